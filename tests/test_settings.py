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
