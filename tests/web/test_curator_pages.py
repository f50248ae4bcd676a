"""The curators' pages as a new user meets them, at 1366x900 and on a 390x844 touch
phone, in real Chromium against the real server (tests/web/conftest.py): what results
are (their match label, their whole names), a clean state between searches, a phone
layout whose results need no scrolling, the library without a query, batch reverse
search, video that plays and seeks, collections that keep notes and archived records,
exports a reviewer can read, near-duplicates a curator can act on, the dashboard and
admin saying what is true, and not one request to another site. Every test saves
screenshots under test-artifacts/web/ and fails on any console error it did not allow.
"""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from urllib.parse import urlsplit

import pytest

from .browser import ARTIFACTS, PHONE, image_loaded, log_in, shot, wait_until

pytestmark = pytest.mark.slow

WIDE = {"width": 1366, "height": 900}


def _context(browser, site, *, phone: bool = False, username: str | None = None):
    options = {"viewport": PHONE, "is_mobile": True, "has_touch": True} if phone else {"viewport": WIDE}
    ctx = browser.new_context(base_url=site.base, accept_downloads=True, **options)
    ctx.set_default_timeout(20_000)
    page = ctx.new_page()
    log_in(page, site, username)
    page.close()
    return ctx


@pytest.fixture(scope="module")
def wide(browser, site):
    ctx = _context(browser, site)
    yield ctx
    ctx.close()


@pytest.fixture(scope="module")
def phone(browser, site):
    ctx = _context(browser, site, phone=True)
    yield ctx
    ctx.close()


@pytest.fixture(scope="module")
def staff(browser, site):
    ctx = _context(browser, site, username=site.seed["staff_username"])
    yield ctx
    ctx.close()


@pytest.fixture
def open_page(console):
    """open_page(context) -> a page whose console errors fail the test."""
    pages = []

    def make(ctx):
        page = ctx.new_page()
        console.watch(page)
        pages.append(page)
        return page

    yield make
    for page in pages:
        page.close()
    assert not console.unexpected(), "errors in the browser:\n" + "\n".join(console.unexpected())


def shot_view(page, name: str) -> None:
    """What the screen shows (not the whole page), for people to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def results_ready(page) -> None:
    page.wait_for_selector("#results[aria-busy=false] .card")


def card_ids(page) -> list[int]:
    return [int(x) for x in page.locator("#results .card").evaluate_all("cards => cards.map(c => Number(c.dataset.mediaId))")]


def label_matches(page, labels: dict[int, str], names: dict[int, str] | None = None, regions: dict[int, list] | None = None) -> None:
    """Answer the page's searches with the server's answer, each hit's match label (and
    region, and file name) set as the test says, in the search API's own fields."""

    def handle(route):
        response = route.fetch()
        body = response.json()
        for hit in body["res"]["results"]:
            media_id = hit["media"]["id"]
            hit["match"] = labels.get(media_id, "similar")
            hit["region"] = (regions or {}).get(media_id)
            if names and media_id in names:
                hit["media"]["original_name"] = names[media_id]
        route.fulfill(response=response, json=body)

    page.route(re.compile(r"/api/v1/search/(media|upload|sha256|random)/"), handle)


# --- search -------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", ["wide", "phone"])
def test_results_are_grouped_by_match_label_strongest_first_with_whole_names(request, open_page, site, device):
    page = open_page(request.getfixturevalue(device))
    query = site.media_id("scene_003.jpg")
    page.goto(f"/?media={query}")
    results_ready(page)
    ranked = card_ids(page)
    long_name = "scene_028_recoloured_for_the_telegram_channel_2024-05-01_final.jpg"
    # The answer in rank order says similar, exact, copy...: the page shows exact first.
    labels = {ranked[0]: "similar", ranked[1]: "exact", ranked[2]: "copy", ranked[3]: "copy"}
    label_matches(page, labels, names={ranked[2]: long_name}, regions={ranked[3]: [0.25, 0.25, 0.75, 0.75]})
    page.reload()
    results_ready(page)

    groups = page.locator("#results .match-group")
    assert groups.evaluate_all("gs => gs.map(g => g.dataset.match)") == ["exact", "copy", "similar"]
    assert card_ids(page)[:3] == [ranked[1], ranked[2], ranked[3]]  # ranking kept inside a group
    assert "Copies" in page.locator(".match-group-copy h2").inner_text()
    assert page.locator(f'.card[data-media-id="{ranked[1]}"] .match').text_content() == "exact"  # a .card's innerText waits for layout
    name = page.locator(f'.card[data-media-id="{ranked[2]}"] .name')
    assert name.inner_text() == long_name and long_name in name.get_attribute("title")
    # Wrapped inside its card, never cut: nothing of it is hidden.
    assert name.evaluate("el => el.scrollWidth <= el.clientWidth + 1 && getComputedStyle(el).textOverflow !== 'ellipsis'")
    # The matched region is drawn over the copy's thumbnail, inside it.
    region = page.locator(f'.card[data-media-id="{ranked[3]}"] .match-region')
    inside = region.evaluate(
        "r => { const a = r.getBoundingClientRect(), b = r.parentElement.getBoundingClientRect(); return a.width > 10 && a.left >= b.left && a.right <= b.right && a.top >= b.top && a.bottom <= b.bottom; }"
    )
    assert inside and page.locator(".match-region").count() == 1
    wait_until(page, "[...document.querySelectorAll('#results .card img')].slice(0, 4).every((i) => i.complete && i.naturalWidth > 0)")
    shot(page, f"search-match-groups-{device}")


def test_a_failed_search_clears_the_query_and_every_older_message(wide, open_page, site, console):
    console.allow("status of 415")  # the rejected upload
    console.allow("status of 404")  # the unknown media
    page = open_page(wide)
    page.goto("/")
    page.set_input_files("#upload-input", site.seed["queries"]["bad"])
    page.locator("#upload-error").wait_for(state="visible")
    page.fill("#start-value", str(site.media_id("scene_001.jpg")))
    page.click("#start-form button[type=submit]")
    results_ready(page)
    assert page.locator("#upload-error").is_hidden()  # a new search starts clean
    assert page.locator("#query-panel").is_visible()

    page.fill("#start-value", "987654")
    page.click("#start-form button[type=submit]")
    page.locator("#search-error").wait_for(state="visible")
    assert "987654" in page.locator("#search-error").inner_text()
    assert page.locator("#query-panel").is_hidden() and page.locator("#upload-error").is_hidden()
    assert page.locator("#results .card").count() == 0
    shot(page, "search-failed-clean")

    page.fill("#start-value", str(site.media_id("scene_002.jpg")))
    page.click("#start-form button[type=submit]")
    results_ready(page)
    assert page.locator("#search-error").is_hidden() and page.locator("#query-panel").is_visible()


def test_on_a_phone_results_come_without_scrolling_and_a_followed_result_shows_its_query(phone, open_page, site):
    page = open_page(phone)
    page.goto(f"/?media={site.media_id('scene_004.jpg')}")
    results_ready(page)
    assert page.locator(".site-header").evaluate("h => h.getBoundingClientRect().height") <= 56  # one row
    first = page.locator("#results .card").first
    assert first.evaluate("c => c.getBoundingClientRect().top") < PHONE["height"] - 120, "the first result is below the fold"
    nav = page.locator(".site-nav")
    assert nav.evaluate("n => n.scrollWidth <= n.clientWidth + 1"), "a menu item is out of sight"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "phone-search-results")

    # Far down the results, follow one: the new query comes into view.
    target = page.locator("#results .card").nth(9)
    target.scroll_into_view_if_needed()
    next_id = int(target.get_attribute("data-media-id"))
    target.locator("a.thumb").click()
    wait_until(page, f"document.querySelector('#query-caption').textContent.includes('Image {next_id}')")
    results_ready(page)
    top = page.locator("#query-panel").evaluate("p => p.getBoundingClientRect().top")
    assert -2 <= top < PHONE["height"] / 2, top
    shot_view(page, "phone-search-followed")


def test_the_page_says_when_the_server_is_still_loading_the_model(wide, open_page, site):
    page = open_page(wide)
    # The server loads its model as it starts, before anyone searches, and says so.
    deadline = time.monotonic() + 90
    while not page.request.get(site.url("/api/v1/search/info/")).json()["res"]["model"]["loaded"]:
        assert time.monotonic() < deadline, "the model was not loaded at start-up"
        time.sleep(0.5)

    # What a server still loading its model sends: the page, search/info, a slow search.
    def page_not_yet(route):
        response = route.fetch()
        route.fulfill(response=response, body=response.text().replace('"modelLoaded": true', '"modelLoaded": false'))

    def info_not_yet(route):
        response = route.fetch()
        body = response.json()
        body["res"]["model"]["loaded"] = False
        route.fulfill(response=response, json=body)

    held = []  # the search, held back as long as a model takes to load
    page.route(re.compile(r"/\?media=\d+$"), page_not_yet)
    page.route("**/api/v1/search/info/", info_not_yet)
    page.route(re.compile(r"/api/v1/search/media/"), lambda route: held.append(route))
    page.goto(f"/?media={site.media_id('scene_005.jpg')}")
    page.locator("#results-summary", has_text="Loading the model").wait_for()
    shot(page, "search-loading-model")
    held[0].continue_()
    results_ready(page)
    assert "Loading the model" not in page.locator("#results-summary").inner_text()


@pytest.mark.parametrize("device", ["wide", "phone"])
def test_without_a_query_the_home_page_browses_the_library(request, open_page, site, device):
    page = open_page(request.getfixturevalue(device))
    page.goto("/")
    results_ready(page)
    assert page.locator("#results-heading").inner_text() == "Library"
    assert "Newest first" in page.locator("#results-summary").inner_text()
    # A keyboard shortcut for paste only where there is a keyboard.
    assert page.locator(".paste-hint").is_hidden() == (device == "phone")
    assert page.locator("#results .card").count() == 30  # a page
    shot(page, f"home-library-{device}")

    if device == "phone":
        page.click("#filters-box > summary")  # folded away on a phone
    page.select_option("#f-media-type", "video")
    page.wait_for_url(re.compile(r"media_type=video"))
    wait_until(page, "document.querySelectorAll('#results .card').length === 1")
    assert card_ids(page) == [site.media_id("clip.mp4")]

    # A card starts a search by it.
    page.locator("#results .card a.thumb").first.click()
    page.wait_for_url(re.compile(rf"\?media={site.media_id('clip.mp4')}$"))
    results_ready(page)
    assert page.locator("#results-heading").inner_text() == "Results"


def test_the_library_filters_by_collection(wide, open_page, site):
    page = open_page(wide)
    ids = [site.media_id("scene_007.jpg"), site.media_id("scene_008.jpg")]
    created = page.request.post(site.url("/api/v1/collection/"), data={"title": "Library filter"}, headers=_csrf(page, site)).json()["res"]
    for media_id in ids:
        page.request.post(site.url(f"/api/v1/collection/{created['id']}/media/"), data={"media_id": media_id}, headers=_csrf(page, site))
    page.goto(f"/?collection={created['id']}")
    results_ready(page)
    assert sorted(card_ids(page)) == sorted(ids)
    assert "in this collection" in page.locator("#results-summary").inner_text()


def _csrf(page, site) -> dict:
    if not page.url.startswith(site.base):
        page.goto("/collections/")
    return {"X-CSRFToken": page.locator('meta[name="csrf-token"]').get_attribute("content"), "Content-Type": "application/json"}


# --- batch reverse search -----------------------------------------------------------------------


@pytest.mark.parametrize("device", ["wide", "phone"])
def test_batch_search_from_its_page_shows_progress_and_opens_the_report(request, open_page, site, tmp_path, device):
    page = open_page(request.getfixturevalue(device))
    queries = site.seed["queries"]
    archive = tmp_path / "more.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(queries["other"], "inside/another_query.png")
    events: list[dict] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: events.append(json.loads(payload))))
    page.goto("/")
    page.click("text=Search with many images at once")
    page.wait_for_url(site.url("/batch/"))
    page.locator("#batch-recent li").first.wait_for()
    page.set_input_files("#batch-files", [queries["copy"], queries["bad"], str(archive)])
    assert "2 images and 1 ZIP" in page.locator("#batch-chosen").inner_text()
    page.fill("#batch-k", "3")
    page.click("#batch-start")
    report = page.locator("#batch-report a.report-html")
    report.wait_for(timeout=60_000)
    assert "Done:" in page.locator("#batch-state").inner_text()
    assert "not-an-image.jpg" in page.locator("#batch-skipped").text_content()
    assert any(e.get("task_name") == "batch_search" and e["event"] == "progress" for e in events)
    shot(page, f"batch-done-{device}")

    html = page.request.get(site.url(report.get_attribute("href")))
    assert html.status == 200 and "copy_of_scene_003.jpg" in html.text() and "another_query.png" in html.text()
    page.locator(f'#batch-recent li[data-task-id="{page.locator("#batch-run").get_attribute("data-task-id")}"] a.report-html').wait_for()


# --- video --------------------------------------------------------------------------------------


def test_a_frame_opens_its_video_at_its_time_and_the_video_plays(wide, open_page, site):
    page = open_page(wide)
    frames = site.seed["frames"]
    video_id = site.media_id("clip.mp4")
    page.goto(f"/media/{frames[-1]}/")
    link = page.locator("#open-video")
    href = link.get_attribute("href")
    seconds = float(href.split("#t=")[1])
    assert href.startswith(f"/media/{video_id}/#t=") and seconds > 0
    link.click()
    page.wait_for_url(re.compile(rf"/media/{video_id}/#t="))
    video = page.locator("#media-video")
    # The seeded video is MPEG-4 Part 2 (as the demo's): the page plays its H.264 copy.
    assert video.get_attribute("src").endswith(".playable.mp4")
    assert page.locator("#playable-note").is_visible()
    wait_until(page, "document.querySelector('#media-video').readyState >= 1")
    wait_until(page, f"Math.abs(document.querySelector('#media-video').currentTime - {seconds}) < 0.3")
    assert video.evaluate("v => v.videoWidth > 0 && !v.error")
    video.evaluate("v => { v.muted = true; return v.play(); }")
    wait_until(page, f"document.querySelector('#media-video').currentTime > {seconds} + 0.2")
    assert page.locator("#media-error").is_hidden()
    shot(page, "video-playing-at-frame")

    # /files/ answers the byte ranges players seek with.
    ranged = page.request.get(video.evaluate("v => v.currentSrc"), headers={"Range": "bytes=0-99"})
    assert ranged.status == 206 and ranged.headers["content-range"].startswith("bytes 0-99/") and len(ranged.body()) == 100
    assert ranged.headers["accept-ranges"] == "bytes"


def test_a_video_that_cannot_play_says_so(wide, open_page, site, console):
    console.allow("playable.mp4")  # the broken source the test gives the player
    page = open_page(wide)
    page.route("**/*.playable.mp4", lambda route: route.fulfill(status=200, content_type="video/mp4", body=b"not a video"))
    page.goto(f"/media/{site.media_id('clip.mp4')}/")
    page.locator("#media-error").wait_for(state="visible")
    assert "does not play here" in page.locator("#media-error").inner_text()
    shot(page, "video-cannot-play")


# --- collections --------------------------------------------------------------------------------


def _collection_from_search(page, site, title: str) -> int:
    """A collection made from the search page, with the first two results added from it."""
    page.goto(f"/?media={site.media_id('scene_009.jpg')}")
    results_ready(page)
    page.click("#new-collection-button")
    page.fill("#new-collection-title", title)
    page.click("#new-collection-form button[type=submit]")
    wait_until(page, f"document.querySelector('#current-collection').selectedOptions[0].textContent === '{title} (0)'")
    for media_id in card_ids(page)[:2]:
        page.locator(f'#results .card[data-media-id="{media_id}"] button.toggle').click()
        page.wait_for_selector(f'#results .card[data-media-id="{media_id}"] button.toggle[aria-pressed=true]')
    return int(page.locator("#current-collection").input_value())


@pytest.mark.parametrize("device", ["wide", "phone"])
def test_collection_items_say_how_they_were_found(request, open_page, site, device):
    page = open_page(request.getfixturevalue(device))
    collection_id = _collection_from_search(page, site, f"Found by search {device}")
    page.goto(f"/collections/{collection_id}/")
    page.wait_for_selector("#items .card")
    found = page.locator("#items .card .found-by").first
    text = found.inner_text()
    assert re.search(r"Found #1 · \d\.\d{3} searching media \d+", text), text
    assert found.locator("a.found-query").get_attribute("href").startswith(f"/?media={site.media_id('scene_009.jpg')}")
    shot(page, f"collection-found-by-{device}")


def test_unsaved_notes_are_not_lost_by_navigating_away(wide, open_page, site):
    page = open_page(wide)
    collection_id = _collection_from_search(page, site, "Unsaved notes")
    page.goto(f"/collections/{collection_id}/")
    page.fill("#notes-input", "Half-written finding")
    assert page.locator("#save-status").inner_text() == "Unsaved changes."
    asked = []

    def on_dialog(dialog):
        asked.append(dialog.type)
        dialog.dismiss()  # stay

    page.on("dialog", on_dialog)
    page.click("nav.site-nav >> text=Dashboard")
    page.wait_for_timeout(500)
    assert asked == ["beforeunload"] and page.url.endswith(f"/collections/{collection_id}/")
    assert page.locator("#notes-input").input_value() == "Half-written finding"

    page.click("#notes-form button[type=submit]")
    wait_until(page, "document.querySelector('#save-status').textContent === 'Saved.'")
    page.click("nav.site-nav >> text=Dashboard")
    page.wait_for_url(site.url("/dashboard/"))
    assert asked == ["beforeunload"]  # saved: no question


@pytest.mark.parametrize("device", ["wide", "phone"])
def test_an_archived_collection_reads_only_until_it_is_unarchived(request, open_page, site, console, device):
    console.allow("status of 409")
    page = open_page(request.getfixturevalue(device))
    collection_id = _collection_from_search(page, site, f"Closed case {device}")
    page.goto(f"/collections/{collection_id}/")
    page.wait_for_selector("#items .card")
    page.click("#archive-button")
    page.locator("#archived-note").wait_for(state="visible")
    assert page.locator("#notes-input").evaluate("t => t.readOnly") and page.locator("#title-input").evaluate("t => t.readOnly")
    assert page.locator("#save-button").is_disabled() and page.locator("#delete-button").is_disabled()
    assert page.locator("#items button.remove").first.is_hidden()
    # The API refuses too.
    status = page.evaluate(f"() => VF.api('collection/{collection_id}/', {{method: 'PATCH', json: {{notes: 'rewritten'}}}}).then(() => 200, (e) => e.status)")
    assert status == 409
    shot(page, f"collection-archived-{device}")
    page.click("#archive-button")
    page.locator("#archived-note").wait_for(state="hidden")
    assert not page.locator("#notes-input").evaluate("t => t.readOnly") and page.locator("#save-button").is_enabled()


def test_the_export_report_is_readable_with_thumbnails_and_its_queries(wide, open_page, site, tmp_path):
    page = open_page(wide)
    page.goto("/")
    page.set_input_files("#upload-input", site.seed["queries"]["copy"])
    page.wait_for_url(re.compile(r"\?upload=\d+"))
    results_ready(page)
    page.click("#new-collection-button")
    page.fill("#new-collection-title", "Export with queries")
    page.click("#new-collection-form button[type=submit]")
    wait_until(page, "document.querySelector('#current-collection').selectedOptions[0].textContent === 'Export with queries (0)'")
    first = card_ids(page)[0]
    page.locator(f'#results .card[data-media-id="{first}"] button.toggle').click()
    page.wait_for_selector(f'#results .card[data-media-id="{first}"] button.toggle[aria-pressed=true]')
    collection_id = page.locator("#current-collection").input_value()
    wide_table = "| a | b |\n|---|---|\n| " + "x" * 400 + " | y |"
    notes = f"# Findings\n\nA heading in the notes.\n\n{wide_table}\n"
    page.evaluate(f"() => VF.api('collection/{collection_id}/', {{method: 'PATCH', json: {{notes: {json.dumps(notes)}}}}})")

    archive = zipfile.ZipFile(io.BytesIO(page.request.get(site.url(f"/api/v1/collection/{collection_id}/export/")).body()))
    names = archive.namelist()
    query = [n for n in names if n.startswith("queries/upload-")]
    assert len(query) == 1 and archive.read(query[0]) == open(site.seed["queries"]["copy"], "rb").read()
    report = archive.read("report.html").decode()

    viewer = open_page(wide)
    viewer.set_content(report)
    assert image_loaded(viewer.locator("td.thumb img").first)
    assert image_loaded(viewer.locator(".queries img").first)
    assert viewer.evaluate("document.documentElement.scrollWidth") <= WIDE["width"], "the report runs wider than the window"
    sizes = viewer.evaluate(
        "[parseFloat(getComputedStyle(document.querySelector('body > h1')).fontSize), parseFloat(getComputedStyle(document.querySelector('.notes h1')).fontSize), parseFloat(getComputedStyle(document.querySelector('body > h2')).fontSize)]"
    )
    assert sizes[1] < sizes[2] < sizes[0], sizes  # the notes' heading is smaller than the report's own
    shot(viewer, "export-report")


# --- near-duplicates ----------------------------------------------------------------------------


@pytest.mark.parametrize("device", ["wide", "phone"])
def test_near_duplicates_run_shows_at_once_and_each_group_can_be_acted_on(request, open_page, site, device):
    page = open_page(request.getfixturevalue(device))
    events: list[tuple[float, dict]] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: events.append((time.monotonic(), json.loads(payload)))))
    page.goto("/duplicates/")
    page.locator("#dup-default-help", has_text="from 0.95 by default").wait_for()  # tiny-random's, measured
    assert "regroups the latest run" in page.locator("#dup-help").inner_text()
    assert "runs over the whole index" in page.locator("#dup-help").inner_text()
    page.fill("#dup-threshold", "0.85")
    page.click("#dup-run-button")
    # The groups of this run: those of an earlier one (the other device's) show at once.
    page.locator('#dup-run[data-run-state="finished"]').wait_for(timeout=60_000)
    page.locator(".dup-group").first.wait_for()
    shown = time.monotonic()
    finished = [at for at, e in events if e.get("task_name") == "find_duplicates" and e.get("event") == "finished"]
    # Shown once the run's end was heard (or read back), not after a fixed wait.
    assert not finished or shown - finished[-1] < 2.5, shown - finished[-1]
    shot(page, f"duplicates-groups-{device}")

    group = page.locator(".dup-group").first
    members = [int(x) for x in group.get_attribute("data-group-key").split(",")]
    key = ",".join(map(str, members))
    if "reviewed" in group.get_attribute("class"):  # by the other device's run: take it back first
        group.locator("button.mark-reviewed").click()
        page.locator(f'.dup-group[data-group-key="{key}"] .review', has_text="Not reviewed").wait_for()
    group = page.locator(f'.dup-group[data-group-key="{key}"]')
    group.locator("button.mark-reviewed").click()
    group = page.locator(f'.dup-group[data-group-key="{key}"]')
    group.locator(".review .badge", has_text="reviewed").wait_for()
    group.locator(f'li[data-media-id="{members[0]}"] button.keep').click()
    group = page.locator(f'.dup-group[data-group-key="{",".join(map(str, members))}"]')
    group.locator(f'li.kept[data-media-id="{members[0]}"]').wait_for()
    assert f"keep #{members[0]}" in group.locator(".review").inner_text()

    created = page.evaluate("() => VF.api('collection/', {method: 'POST', json: {title: 'Duplicates kept " + device + "'}})")
    page.reload()
    page.locator(".dup-group").first.wait_for()
    page.select_option("#dup-collection", str(created["id"]))
    group = page.locator(f'.dup-group[data-group-key="{",".join(map(str, members))}"]')
    assert group.locator(".review .badge").count() == 1  # the review is kept on the server
    group.locator("button.add-group").click()
    group.locator("button.add-group", has_text="✓").wait_for()
    got = page.evaluate(f"() => VF.api('collection/{created['id']}/').then(c => c.items.results.map(i => i.media_id))")
    assert sorted(got) == sorted(members)
    page.check("#dup-hide-reviewed")
    assert group.is_hidden()
    shot(page, f"duplicates-reviewed-{device}")


# --- dashboard and admin ------------------------------------------------------------------------


def test_the_dashboard_says_which_model_is_default_what_phash_needs_and_names_tasks(staff, open_page, site):
    page = open_page(staff)
    page.goto("/dashboard/")
    page.locator("#ws-state", has_text="connected").wait_for()
    zoo = page.locator("#zoo-body")
    zoo.locator("tr[data-model=efficientnet_lite0] .badge", has_text="default model").wait_for()  # modelzoo.weights.default_model_name()
    assert zoo.locator(".badge", has_text="default model").count() == 1
    assert zoo.locator("tr[data-model=tiny-random] .badge", has_text="searches use it").count() == 1
    assert "no weights needed" in zoo.locator("tr[data-model=phash]").inner_text()

    page.fill("#test-steps", "2")
    page.fill("#test-interval", "0.1")
    page.click("#test-task-form button[type=submit]")
    page.locator("#tasks li.task .task-title", has_text="Test task").first.wait_for()

    # A download that fails says so beside its button (this machine has no internet).
    row = zoo.locator("tr[data-model=resnet18]")
    row.locator("button", has_text="Download weights").click()
    row.locator(".download-status.error").wait_for(timeout=60_000)
    assert "Download failed" in row.locator(".download-status").inner_text()
    assert page.locator("#tasks li.task .task-title", has_text="Weights download · resnet18").count() >= 1
    shot(page, "dashboard-zoo-and-tasks")


@pytest.fixture(scope="module")
def admin(browser, site):
    ctx = _context(browser, site, username=site.seed["admin_username"])
    yield ctx
    ctx.close()


def test_admin_shows_provenance_read_only_and_links_each_record_to_its_page(admin, open_page, site):
    page = open_page(admin)
    image = site.media_id("scene_000.jpg")
    page.goto(f"/admin/media_app/media/{image}/change/")
    assert page.locator("input[name=original_name], textarea[name=source_path]").count() == 0
    assert "scene_000.jpg" in page.locator(".field-original_name").inner_text()
    shot(page, "admin-media-read-only")
    page.locator("a.viewsitelink").click()
    page.wait_for_url(site.url(f"/media/{image}/"))

    # The add-to-collection action counts items; memberships show their thumbnails.
    page.evaluate(
        "() => fetch('/api/v1/collection/', {method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRFToken': document.querySelector('meta[name=csrf-token]').content}, body: JSON.stringify({title: 'Admin action'})})"
    )
    page.goto("/admin/media_app/media/")
    page.locator("#result_list input.action-select").first.check()
    page.select_option("select[name=action]", "add_to_collection")
    page.click("button[name=index]")
    page.locator("#id_collection").wait_for()
    assert re.search(r"Admin action · 0 items · by root · #\d+", page.locator("#id_collection").inner_text())
    shot(page, "admin-add-to-collection")


# --- offline ------------------------------------------------------------------------------------


def test_no_page_asks_another_site_for_anything(staff, open_page, site):
    page = open_page(staff)
    host = urlsplit(site.base).netloc
    elsewhere: list[str] = []
    page.on(
        "request", lambda r: elsewhere.append(r.url) if urlsplit(r.url).scheme in ("http", "https", "ws", "wss") and urlsplit(r.url).netloc != host else None
    )
    for path in [
        "/",
        "/batch/",
        "/collections/",
        "/dashboard/",
        "/duplicates/",
        f"/media/{site.media_id('clip.mp4')}/",
        "/api/v1/docs/",
        "/api/v1/redoc/",
        "/admin/",
    ]:
        page.goto(path)
        if path.endswith("/redoc/"):
            page.wait_for_selector("redoc h1, #redoc-container h1, .api-info h1", timeout=30_000)  # its side menu, logo and all, is drawn
        page.wait_for_load_state("networkidle")
    assert elsewhere == [], elsewhere
    icon = page.request.get(site.url("/favicon.ico"))
    assert icon.status == 200 and icon.headers["content-type"].startswith("image/")
