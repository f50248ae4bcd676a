"""Feature admin: list columns and the build actions (same service as the API)."""

from __future__ import annotations

from search_app.models import Feature, FeatureStatus


def test_feature_changelist_and_detail_render(client, staff, tiny_feature, make_media):
    staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    make_media(1)
    feature = tiny_feature()
    res = client.get("/admin/search_app/feature/")
    assert res.status_code == 200 and b"tiny-random" in res.content
    res = client.get(f"/admin/search_app/feature/{feature.pk}/change/")
    assert res.status_code == 200 and b"vectors stored" in res.content


def test_update_index_action_builds_the_selected_features(client, staff, tiny_feature, make_media, django_capture_on_commit_callbacks):
    staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    make_media(1)
    make_media(2)
    feature = tiny_feature()
    with django_capture_on_commit_callbacks(execute=True):
        res = client.post("/admin/search_app/feature/", {"action": "update_index", "_selected_action": [feature.pk]})
    assert res.status_code == 302
    feature.refresh_from_db()
    assert feature.status == FeatureStatus.READY and feature.item_count == 2 and feature.index_version == 1
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/admin/search_app/feature/", {"action": "rebuild_index", "_selected_action": [feature.pk]})
    feature = Feature.objects.get(pk=feature.pk)
    assert feature.index_version == 2 and feature.item_count == 2
