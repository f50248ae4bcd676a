"""Sign-in throttling with real requests to /login/ and /admin/login/: failures counted
per username and per address, the lockout refuses even the right password, it ends,
and a success clears the username's count."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from django.core.cache import cache
from django.test import Client

from vframe_search.web import login

pytestmark = pytest.mark.django_db

ADDRESS = "10.11.12.13"
PASSWORD = "right-pass-123"


@pytest.fixture(autouse=True)
def clean_counters():
    # The cache outlives a test (and, on Redis, the test run): leave no count behind.
    def clear():
        keys = []
        for username in ["victim", *(f"nobody-{n}" for n in range(6))]:
            for address in (ADDRESS, "10.0.0.1", "10.0.0.2", "10.0.0.3"):
                for subject, _ in login._subjects(SimpleNamespace(META={"REMOTE_ADDR": address}), username):
                    keys += [f"{login._PREFIX}:fail:{subject}", f"{login._PREFIX}:lock:{subject}"]
        cache.delete_many(keys)

    clear()
    yield
    clear()


@pytest.fixture
def victim(django_user_model):
    return django_user_model.objects.create_user(username="victim", password=PASSWORD, is_staff=True)


def sign_in(path: str, username: str, password: str, address: str = ADDRESS):
    client = Client(REMOTE_ADDR=address)
    return client, client.post(path, {"username": username, "password": password})


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_five_wrong_passwords_lock_the_account_and_the_right_one_is_refused(path, victim, settings):
    settings.LOGIN_MAX_FAILURES, settings.LOGIN_LOCKOUT_MINUTES = 5, 15
    for attempt in range(4):
        client, res = sign_in(path, "victim", f"guess-{attempt}")
        assert res.status_code == 200 and not signed_in(client)
        assert "Too many failed sign-ins" not in res.content.decode()
    client, res = sign_in(path, "victim", "guess-4")  # the fifth starts the lockout and says so
    assert "Too many failed sign-ins for this account or from this address. Try again in 15 minutes." in res.content.decode()
    # Locked: the right password, from another address, does not get in either.
    client, res = sign_in(path, "Victim", PASSWORD, address="10.0.0.1")
    assert not signed_in(client)
    assert "Try again in 15 minutes." in res.content.decode()
    if path == "/login/":
        assert res.status_code == 429 and int(res["Retry-After"]) > 800


def test_the_lockout_ends_and_then_the_right_password_works(victim, settings):
    settings.LOGIN_MAX_FAILURES, settings.LOGIN_LOCKOUT_MINUTES = 2, 0.01  # 1 s (whole seconds)
    for attempt in range(2):
        sign_in("/login/", "victim", f"guess-{attempt}")
    client, res = sign_in("/login/", "victim", PASSWORD)
    assert res.status_code == 429 and not signed_in(client)
    time.sleep(1.5)
    client, res = sign_in("/login/", "victim", PASSWORD)
    assert res.status_code == 302 and signed_in(client)


def test_a_success_clears_the_usernames_count(victim, settings):
    settings.LOGIN_MAX_FAILURES = 3
    for attempt in range(2):
        sign_in("/login/", "victim", f"guess-{attempt}")
    client, res = sign_in("/login/", "victim", PASSWORD)
    assert signed_in(client)
    for attempt in range(2):  # two more: four in all, but only two since the success
        sign_in("/login/", "victim", f"again-{attempt}")
    client, res = sign_in("/login/", "victim", PASSWORD)
    assert signed_in(client)


def test_one_address_guessing_many_usernames_is_locked_out(victim, django_user_model, settings):
    settings.LOGIN_MAX_FAILURES, settings.LOGIN_MAX_FAILURES_PER_IP = 5, 6
    for n in range(6):
        sign_in("/login/", f"nobody-{n}", "guess", address="10.0.0.2")
    # The address is locked, whatever the account; other addresses are not.
    client, res = sign_in("/login/", "victim", PASSWORD, address="10.0.0.2")
    assert res.status_code == 429 and not signed_in(client)
    client, res = sign_in("/login/", "victim", PASSWORD, address="10.0.0.3")
    assert signed_in(client)


def test_the_admin_and_the_pages_share_the_count(victim, settings):
    settings.LOGIN_MAX_FAILURES = 4
    for attempt in range(2):
        sign_in("/login/", "victim", f"guess-{attempt}")
        sign_in("/admin/login/", "victim", f"guess-admin-{attempt}")
    client, res = sign_in("/admin/login/", "victim", PASSWORD)
    assert not signed_in(client) and "Too many failed sign-ins" in res.content.decode()
