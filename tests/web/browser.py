"""What the browser tests use besides their fixtures: Debian's Chromium and how it is
launched, the viewports, the site under test, a console watcher, logging in, and
screenshots for people to look at."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.harness import ROOT, Proc

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


def wait_until(page, expression: str, arg=None, timeout: float = 20.0) -> None:
    """``page.wait_for_function`` for pages under the Content-Security-Policy: that one
    compiles its expression inside the page, which the policy refuses (no 'unsafe-eval');
    ``page.evaluate`` goes through the DevTools protocol, which the policy leaves alone."""
    deadline = time.monotonic() + timeout
    while not (page.evaluate(expression) if arg is None else page.evaluate(expression, arg)):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {expression}")
        page.wait_for_timeout(100)


def shot(page, name: str) -> Path:
    """A full-page screenshot under test-artifacts/web/, for people to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def image_loaded(locator, timeout_ms: int = 20_000) -> bool:
    """Whether the <img> shows a decoded picture, waiting for it to finish loading (a
    loaded machine may still be fetching it when the results are on the page)."""
    return locator.evaluate(
        """(img, ms) => (img.complete && img.naturalWidth > 0) || new Promise(done => {
             img.addEventListener('load', () => done(img.naturalWidth > 0), {once: true});
             img.addEventListener('error', () => done(false), {once: true});
             setTimeout(() => done(img.complete && img.naturalWidth > 0), ms);
           })""",
        timeout_ms,
    )
