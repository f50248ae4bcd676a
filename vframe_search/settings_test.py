"""Test overlay: the same base settings, with a throwaway data dir and a fast hasher.

DATABASE_URL and REDIS_URL still come from the environment, so CI runs the suite
against the machine's PostgreSQL and Redis.
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("VFRAME_ALLOW_RANDOM_WEIGHTS", "1")
os.environ.setdefault("VFRAME_DATA_DIR", tempfile.mkdtemp(prefix="vframe-test-"))
# The suite's users get the same ids test after test (SQLite reuses them) and, with
# REDIS_URL, the throttle counters live in a Redis shared with other runs: the real
# limits would trip at random. tests/test_rate_limits.py sets low ones and checks them.
os.environ.setdefault("VFRAME_THROTTLE_UPLOAD", "100000/min")
os.environ.setdefault("VFRAME_THROTTLE_SEARCH", "100000/min")
os.environ.setdefault("VFRAME_THROTTLE_PAUSE", "0")  # the refusal tests answer at once
# A classifier pass per ingested picture: the text app's tests turn it on where they check it.
os.environ.setdefault("VFRAME_LABELS_AT_INGEST", "0")
# Importing vframe_search.asgi (the websocket tests do, at collection) would start the
# search warm-up thread in the test process, touching the database before pytest-django
# has set up the test one. Served deployments in tests get their own environment.
os.environ.setdefault("VFRAME_WARM_AT_START", "0")

from .settings import *  # noqa: E402,F403
from .settings import ALLOWED_HOSTS  # noqa: E402

ALLOWED_HOSTS = [*ALLOWED_HOSTS, "testserver"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
