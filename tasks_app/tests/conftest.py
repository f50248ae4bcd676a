"""Fixtures for tasks_app tests.

In-process tests run on the embedded defaults whatever the environment says (CI sets
REDIS_URL): inline tasks, run eagerly in the test's thread and transaction, and the
in-memory channel layer. Tests that need Redis ask for ``redis_url`` (a database number
of its own, and a failure, never a skip, when Redis is missing); test_live.py runs the
real processes.
"""

from __future__ import annotations

import pytest

from tasks_app import events, presence
from tests.harness import clear_owned_keys, redis_test_url, require_redis


@pytest.fixture(autouse=True)
def embedded_tasks(settings):
    settings.REDIS_URL = None
    settings.TASKS_INLINE = True
    settings.TASKS_EAGER = True
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    presence._memory = presence.MemoryPresence()  # a fresh list of who is connected
    yield
    events.bind_server_loop(None)


@pytest.fixture
def redis_url():
    url = redis_test_url()
    require_redis(url)
    clear_owned_keys(url)
    yield url
    clear_owned_keys(url)


@pytest.fixture
def sent_events(monkeypatch) -> list[tuple[str, dict]]:
    """Every (group, event) handed to the channel layer, in order."""
    sent: list[tuple[str, dict]] = []
    monkeypatch.setattr(events, "_send", lambda group, message: sent.append((group, message["event"])))
    return sent


@pytest.fixture
def other(db, django_user_model):
    return django_user_model.objects.create_user(username="other", password="other-pass-123")


@pytest.fixture
def other_api(other):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=other).key}")
    return client
