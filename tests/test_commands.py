"""Operator commands of the vframe_search project app."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token


def test_create_curator_prints_a_working_token(db, client):
    out = io.StringIO()
    call_command("create_curator", "alice", "--password", "a-long-password-1", stdout=out)
    user = get_user_model().objects.get(username="alice")
    assert not user.is_staff
    token = Token.objects.get(user=user)
    assert f"token: {token.key}" in out.getvalue()
    res = client.get("/api/v1/media/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert res.status_code == 200


def test_create_curator_again_resets_password_and_keeps_token(db):
    call_command("create_curator", "bob", "--password", "first-password-1", stdout=io.StringIO())
    key = Token.objects.get(user__username="bob").key
    call_command("create_curator", "bob", "--password", "second-password-2", "--staff", stdout=io.StringIO())
    user = get_user_model().objects.get(username="bob")
    assert user.check_password("second-password-2")
    assert user.is_staff
    assert Token.objects.get(user=user).key == key


def test_create_curator_rejects_blank_name(db):
    with pytest.raises(CommandError):
        call_command("create_curator", "  ", stdout=io.StringIO())
