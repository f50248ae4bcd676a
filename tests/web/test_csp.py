"""The Content-Security-Policy in a real browser: the API docs (Swagger UI, ReDoc) and the
admin work under their own policies without a single violation (Chromium reports each
refused script, style or worker as a console error, which fails the test), and a script
injected into a page through stored notes does not run."""

from __future__ import annotations

import pytest

from .browser import DESKTOP, Console, log_in

pytestmark = pytest.mark.slow


def test_the_api_docs_render_under_their_policy(page, site, console):
    # ReDoc's bundle shows its maker's logo from their site: refused, as anything from
    # another site is. Its page names no favicon, so the browser asks for one.
    console.allow("cdn.redoc.ly")
    console.allow("favicon.ico")
    page.goto(site.url("/api/v1/docs/"))
    page.wait_for_selector("#swagger-ui .info .title")
    assert "VFRAME Search API" in page.locator("#swagger-ui .info .title").inner_text()
    page.goto(site.url("/api/v1/redoc/"))
    page.wait_for_selector("redoc h1, #redoc-container h1, .api-info h1", timeout=30_000)
    page.wait_for_load_state("networkidle")


def test_the_admin_works_under_its_policy(browser, site):
    ctx = browser.new_context(base_url=site.base, viewport=DESKTOP)
    console = Console()
    try:
        page = ctx.new_page()
        console.watch(page)
        page.goto(site.url("/admin/"))
        page.fill("#id_username", site.seed["staff_username"])
        page.fill("#id_password", site.seed["password"])
        page.click("input[type=submit]")
        page.wait_for_selector("#site-name")
        page.wait_for_selector("#content-main")
        # A staff user without model permissions: the pages every staff user has.
        page.goto(site.url("/admin/password_change/"))
        page.wait_for_selector("#id_old_password")
        page.wait_for_load_state("networkidle")
    finally:
        ctx.close()
    assert not console.unexpected(), console.unexpected()


def test_a_script_in_a_page_does_not_run(browser, site):
    # Pages escape what they show; were one to slip through, the policy still refuses it.
    ctx = browser.new_context(base_url=site.base, viewport=DESKTOP)
    console = Console()
    try:
        page = ctx.new_page()
        console.watch(page)
        log_in(page, site)
        page.evaluate(
            """() => {
                const s = document.createElement("script");
                s.textContent = "window.__injected = 1";
                document.body.append(s);
                const d = document.createElement("div");
                d.innerHTML = '<img src="data:," onerror="window.__handler = 1">';
                document.body.append(d);
            }"""
        )
        page.wait_for_timeout(300)
        assert page.evaluate("() => [window.__injected, window.__handler]") == [None, None]
        assert any("Content Security Policy" in e for e in console.errors), console.errors
    finally:
        ctx.close()
