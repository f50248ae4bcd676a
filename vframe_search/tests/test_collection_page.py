"""The collection page offers changes only to those the API lets change it."""

from __future__ import annotations

import pytest

from collections_app.services import collection_create

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("who, can_edit", [("owner", True), ("staff", True), ("other", False)])
def test_the_collection_page_offers_changes_to_its_creator_and_staff_only(client, user, staff, django_user_model, who, can_edit):
    other = django_user_model.objects.create_user(username="other", password="other-pass-123")
    collection = collection_create(title="Case", notes="# Notes", user=user)
    client.force_login({"owner": user, "staff": staff, "other": other}[who])
    html = client.get(f"/collections/{collection.pk}/").content.decode()
    assert f'data-can-edit="{str(can_edit).lower()}"' in html
    for control in ('id="delete-button"', 'id="archive-button"', 'id="make-current"', ">Save<"):
        assert (control in html) is can_edit, control
    assert ("Only its creator and staff may change this collection." in html) is not can_edit
    assert ("readonly" in html) is not can_edit
