"""Fixtures of the browser tests: a real server the tests own, and headless Chromium.

The server is daphne in a subprocess (websockets included, which pytest-django's
live_server cannot serve) with the embedded defaults a small deployment has: no Redis,
so tasks run in the server's own thread pool and their events reach the browser
through the in-memory channel layer. It runs on a database of its own beside the test
database (PostgreSQL ``<name>_web`` when DATABASE_URL is PostgreSQL, else a SQLite
file), seeded by ``tests/web/seed.py`` in a subprocess with the server's environment.
The server, its environment and its database come from tests/harness.py; the browser's
helpers from tests/web/browser.py.

Chromium is Debian's (``.ci/run`` installs it), driven by Playwright over CDP; no
browser is ever downloaded. Each module gets one browser; each launch uses a fresh
temporary profile (Playwright makes one per launch and removes it on close).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import ROOT, create_live_database, live_env, start_server

from .browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, Console, Site, log_in

# --- the server ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("web")
    database = create_live_database(tmp, suffix="web")
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
