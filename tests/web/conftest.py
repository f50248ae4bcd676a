"""Fixtures of the browser tests: a real server the tests own, and headless Chromium.

The server is daphne in a subprocess (websockets included, which pytest-django's
live_server cannot serve) with the embedded defaults a small deployment has: no Redis,
so tasks run in the server's own thread pool and their events reach the browser
through the in-memory channel layer. It runs on a database of its own beside the test
database (PostgreSQL ``<name>_web`` when DATABASE_URL is PostgreSQL, else a SQLite
file), seeded by ``tests/web/seed.py`` in a subprocess with the server's environment.
The process helpers are those of the tasks app's live tests.

Chromium is Debian's (``.ci/run`` installs it), driven by Playwright over CDP; no
browser is ever downloaded. Each module gets one browser; each launch uses a fresh
temporary profile (Playwright makes one per launch and removes it on close).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tasks_app.tests.live import Proc, live_env, start_server

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "web"
CHROMIUM = os.environ.get("VFRAME_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


# --- the server ---------------------------------------------------------------------------------


@dataclass
class WebDatabase:
    url: str
    drop: object


def web_database(tmp: Path) -> WebDatabase:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        import psycopg

        parts = urlsplit(url)
        name = (parts.path.lstrip("/") or "vframe") + "_web"
        admin_url = urlunsplit(parts._replace(path="/postgres"))

        def execute(sql: str) -> None:
            with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
                conn.execute(sql)

        execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        execute(f'CREATE DATABASE "{name}"')
        return WebDatabase(urlunsplit(parts._replace(path="/" + name)), lambda: execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return WebDatabase(f"sqlite:///{tmp / 'web.sqlite3'}", lambda: None)


@dataclass
class Site:
    base: str
    seed: dict
    server: Proc
    tmp: Path

    def url(self, path: str) -> str:
        return self.base + path

    def media_id(self, name: str) -> int:
        return self.seed["media"][name]


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("web")
    database = web_database(tmp)
    env = live_env(
        database_url=database.url,
        redis_url=None,
        data_dir=tmp / "data",
        VFRAME_ALLOW_RANDOM_WEIGHTS="1",
        VFRAME_EMBED_THREADS="1",
        VFRAME_LOADER_WORKERS="0",
    )
    server = None
    try:
        result = subprocess.run([sys.executable, "-m", "tests.web.seed", str(tmp)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise RuntimeError(f"seeding the web test database failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
        seed = json.loads(result.stdout.strip().splitlines()[-1])
        server, base = start_server(env, tmp, name="daphne-web")
        yield Site(base=base, seed=seed, server=server, tmp=tmp)
    finally:
        if server is not None:
            server.stop()
        database.drop()


# --- the browser --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"The browser tests need Debian's chromium at {CHROMIUM} (`apt-get install chromium`; .ci/run installs it).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Console:
    """Console errors, uncaught exceptions and failed requests of the pages of one test.

    The browser itself logs every HTTP error answer as a console error; a test that
    provokes one on purpose says which with :meth:`allow`."""

    errors: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)

    def allow(self, fragment: str) -> None:
        self.allowed.append(fragment)

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(fragment in e for fragment in self.allowed)]

    def watch(self, page) -> None:
        page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text} at {m.location.get('url', '')}") if m.type == "error" else None)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.method} {r.url} {r.failure}") if not _benign_failure(r) else None)


def _benign_failure(request) -> bool:
    # A download or a navigation that replaces a page aborts the request it leaves behind.
    return "ERR_ABORTED" in (request.failure or "")


def log_in(page, site: Site, username: str | None = None) -> None:
    page.goto(site.url("/login/"))
    page.fill("#id_username", username or site.seed["username"])
    page.fill("#id_password", site.seed["password"])
    page.click("button[type=submit]")
    page.wait_for_url(site.url("/"))


@pytest.fixture(scope="module")
def context(browser, site):
    """A desktop-sized browser context, logged in as the curator (one login per module)."""
    ctx = browser.new_context(base_url=site.base, viewport=DESKTOP, accept_downloads=True)
    ctx.set_default_timeout(20_000)
    page = ctx.new_page()
    log_in(page, site)
    page.close()
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def page(context, console):
    """A page of the logged-in context; the test fails on any console error it did not allow."""
    page = context.new_page()
    console.watch(page)
    yield page
    page.close()
    unexpected = console.unexpected()
    assert not unexpected, "errors in the browser:\n" + "\n".join(unexpected)


def shot(page, name: str) -> Path:
    """A full-page screenshot under test-artifacts/web/, for people to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
