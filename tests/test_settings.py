"""Settings: bad environment values stop start-up naming the variable; production
settings pass `manage.py check --deploy`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(args: list[str], env_overrides: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VFRAME_", "DJANGO_", "DATABASE_URL", "REDIS_URL"))}
    env.update({"VFRAME_DATA_DIR": str(tmp_path / "data"), "DJANGO_SETTINGS_MODULE": "vframe_search.settings"})
    env.update(env_overrides)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("VFRAME_DEBUG", "maybe"),
        ("VFRAME_MAX_UPLOAD_BYTES", "10MB"),
        ("VFRAME_PAGE_SIZE", "0"),
        ("DATABASE_URL", "mysql://u@h/db"),
        ("VFRAME_DB_CONNECT_TIMEOUT", "soon"),
        ("REDIS_URL", "http://127.0.0.1:6379"),
        ("DJANGO_SECRET_KEY", "short"),
        ("VFRAME_EMBED_DTYPE", "float16"),
        ("VFRAME_DEVICE", "gpu"),
        ("VFRAME_SENDFILE_HEADER", "X-Whatever"),
    ],
)
def test_bad_environment_value_fails_at_start_naming_the_variable(tmp_path, variable, value):
    result = _run(["check"], {variable: value}, tmp_path)
    assert result.returncode != 0
    assert variable in result.stderr
    assert "ImproperlyConfigured" in result.stderr


def test_embedded_defaults_need_no_environment(tmp_path):
    result = _run(["check"], {}, tmp_path)
    assert result.returncode == 0, result.stderr
    # a secret key was generated once and kept private in the data dir
    key_file = tmp_path / "data" / "secret_key"
    assert key_file.exists()
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"


def test_production_settings_pass_check_deploy(tmp_path):
    env = {
        "DJANGO_SECRET_KEY": "x" * 20 + "-production-secret-key-from-the-environment-" + "y" * 10,
        "VFRAME_HTTPS": "1",
        "VFRAME_ALLOWED_HOSTS": "search.example.org",
    }
    result = _run(["check", "--deploy", "--fail-level", "WARNING"], env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_bad_pool_size_fails_at_start_naming_the_variable(tmp_path):
    result = _run(["check"], {"DATABASE_URL": "postgres://u@127.0.0.1:1/db", "VFRAME_DB_POOL_MAX_SIZE": "lots"}, tmp_path)
    assert result.returncode != 0
    assert "VFRAME_DB_POOL_MAX_SIZE" in result.stderr and "ImproperlyConfigured" in result.stderr


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, {"min_size": 1, "max_size": 4, "timeout": 10.0}),  # a Celery worker process, a command
        ({"VFRAME_WEB_WORKERS": "4"}, {"min_size": 1, "max_size": 4, "timeout": 10.0}),
        ({"VFRAME_WEB_WORKERS": "32"}, {"min_size": 1, "max_size": 2, "timeout": 10.0}),  # 64 connections over 32 workers
        ({"VFRAME_WEB_WORKERS": "32", "VFRAME_DB_WEB_CONNECTIONS": "16"}, {"min_size": 1, "max_size": 1, "timeout": 10.0}),
        ({"VFRAME_DB_POOL_MAX_SIZE": "8", "VFRAME_DB_POOL_MIN_SIZE": "0", "VFRAME_DB_POOL_TIMEOUT": "2"}, {"min_size": 0, "max_size": 8, "timeout": 2.0}),
        ({"VFRAME_DB_POOL_MAX_SIZE": "0"}, None),
    ],
)
def test_postgresql_gets_a_bounded_pool_and_no_persistent_connections(monkeypatch, environ, expected):
    from vframe_search.env import env_database

    for name in ("VFRAME_WEB_WORKERS", "VFRAME_DB_WEB_CONNECTIONS", "VFRAME_DB_POOL_MAX_SIZE", "VFRAME_DB_POOL_MIN_SIZE", "VFRAME_DB_POOL_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", "postgres://u@127.0.0.1:5432/db")
    config = env_database("DATABASE_URL", ROOT / "unused.sqlite3")
    assert config["CONN_MAX_AGE"] == 0
    assert config["OPTIONS"].get("pool") == expected


def test_gunicorn_configuration_reads_port_and_workers_from_the_environment(tmp_path):
    code = "import vframe_search.gunicorn_conf as c; print(c.bind, c.workers, c.worker_class, c.preload_app)"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VFRAME_", "DJANGO_", "DATABASE_URL", "REDIS_URL", "WEB_CONCURRENCY", "PORT", "HOST"))}
    run = lambda extra: subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**env, **extra}, capture_output=True, text=True, timeout=60)  # noqa: E731
    out = run({"PORT": "9123", "WEB_CONCURRENCY": "3", "REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert out.stdout.split() == ["127.0.0.1:9123", "3", "vframe_search.serving.Worker", "True"], out.stderr
    out = run({"REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert out.stdout.split()[:2] == ["127.0.0.1:8000", str(max(2, 2 * len(os.sched_getaffinity(0))))], out.stderr
    out = run({})  # embedded defaults: one process holds the channel layer and the task pool
    assert out.stdout.split()[1] == "1", out.stderr
    out = run({"WEB_CONCURRENCY": "none"})
    assert out.returncode != 0 and "WEB_CONCURRENCY" in out.stderr
