"""The curators' pages in a real browser (headless Chromium) against a real server.

One scenario per test, in the order a curator works: log in, search with an upload,
follow a lead, gather results into a collection and export it, watch a task on the
dashboard. Every test fails on any console error or uncaught exception of its pages
(see browser.Console), and saves screenshots under test-artifacts/web/.
"""

from __future__ import annotations

import io
import json
import re
import zipfile

import pytest

from .browser import DESKTOP, PHONE, Console, image_loaded, log_in, shot, wait_until

pytestmark = pytest.mark.slow


def wait_for_results(page, count: int | None = None) -> list:
    page.wait_for_selector("#results[aria-busy=false] .card")
    cards = page.locator("#results .card")
    if count is not None:
        assert cards.count() == count
    return cards


def card_ids(page) -> list[int]:
    return [int(x) for x in page.locator("#results .card").evaluate_all("cards => cards.map(c => c.dataset.mediaId)")]


def test_pages_need_a_login_and_a_wrong_password_says_so(browser, site):
    ctx = browser.new_context(base_url=site.base, viewport=DESKTOP)
    console = Console()
    try:
        page = ctx.new_page()
        console.watch(page)
        page.goto(site.url("/dashboard/"))
        assert page.url == site.url("/login/?next=/dashboard/")
        page.fill("#id_username", "curator")
        page.fill("#id_password", "wrong password")
        page.click("button[type=submit]")
        assert "correct username and password" in page.locator("[role=alert]").inner_text()
        shot(page, "login")
        page.fill("#id_password", site.seed["password"])
        page.click("button[type=submit]")
        page.wait_for_url(site.url("/dashboard/"))
        # Log out once the page has settled (what it loads on connecting would meet a 401).
        page.locator("#ws-state", has_text="connected").wait_for()
        page.wait_for_load_state("networkidle")
        page.click("text=Log out")
        page.wait_for_url(site.url("/login/"))
        page.goto(site.url("/"))
        assert page.url.startswith(site.url("/login/"))
    finally:
        ctx.close()
    assert not console.unexpected(), console.unexpected()


def test_uploading_a_reencoded_copy_ranks_its_original_first_and_the_url_reloads_the_search(page, site):
    page.goto("/")
    page.set_input_files("#upload-input", site.seed["queries"]["copy"])
    page.wait_for_url(re.compile(r"\?upload=\d+"))
    wait_for_results(page)
    assert card_ids(page)[0] == site.media_id("scene_003.jpg")
    first = page.locator("#results .card").first
    assert first.locator(".name").inner_text() == "scene_003.jpg"
    assert float(first.locator(".score").inner_text()) > 0.9
    assert "copy_of_scene_003.jpg" in page.locator("#query-caption").inner_text()
    assert image_loaded(page.locator("#query-image"))
    shot(page, "search-upload")

    # The URL is the search: reloading it shows the same results.
    before = card_ids(page)
    page.reload()
    wait_for_results(page)
    assert card_ids(page) == before


def test_a_rejected_upload_shows_the_api_reason_in_the_page(page, site, console):
    console.allow("status of 415")  # the browser logs the API's 415 answer itself
    page.goto("/")
    page.set_input_files("#upload-input", site.seed["queries"]["bad"])
    alert = page.locator("#upload-error")
    alert.wait_for(state="visible")
    text = alert.inner_text()
    assert "not-an-image.jpg" in text
    assert "File is not an image in an accepted format" in text  # the API's own message
    assert "upload=" not in page.url
    shot(page, "search-upload-rejected")


def test_open_a_result_then_search_by_it(page, site):
    query = site.media_id("scene_005.jpg")
    page.goto(f"/?media={query}")
    wait_for_results(page)
    target = card_ids(page)[0]
    page.locator("#results .card").first.locator("a.details").click()
    page.wait_for_url(site.url(f"/media/{target}/"))
    assert page.locator("h1").inner_text().startswith(f"Image {target}")
    assert image_loaded(page.locator(".media-full img"))
    shot(page, "media-image")

    page.click("#search-by-this")
    page.wait_for_url(site.url(f"/?media={target}"))
    wait_for_results(page)
    assert f"Image {target}" in page.locator("#query-caption").inner_text()
    assert target not in card_ids(page)  # the query is not its own first hit

    # A thumbnail is a search link: clicking one searches by it without a reload.
    next_id = card_ids(page)[1]
    page.evaluate("window.__same_document = true")
    page.locator(f'#results .card[data-media-id="{next_id}"] a.thumb').click()
    page.wait_for_url(site.url(f"/?media={next_id}"))
    wait_until(page, f"document.querySelector('#query-caption').textContent.includes('Image {next_id}')")
    assert page.evaluate("window.__same_document === true")
    page.go_back()
    wait_until(page, f"document.querySelector('#query-caption').textContent.includes('Image {target}')")


def test_video_frames_show_timestamp_and_parent_and_the_frame_page_shows_the_video_in_order(page, site):
    frames = site.seed["frames"]
    video = site.media_id("clip.mp4")
    page.goto(f"/?media={frames[0]}&media_type=video_frame&include_self=1")
    cards = wait_for_results(page)
    assert card_ids(page)[0] == frames[0]
    first = cards.first
    assert first.locator(".time").inner_text() == "0:00.0"
    assert first.locator("a.parent").get_attribute("href") == f"/media/{video}/#t=0.000"  # the video, at the frame's time
    assert page.locator("#f-media-type").input_value() == "video_frame"
    assert page.locator("#f-include-self").is_checked()
    shot(page, "search-video-frames")

    page.goto(f"/media/{frames[1]}/")
    strip = page.locator(".filmstrip li")
    assert strip.count() == len(frames)
    assert strip.nth(1).get_attribute("aria-current") == "true"
    labels = strip.locator("span").all_inner_texts()
    assert labels == sorted(labels)
    assert page.locator("dl.meta").inner_text().count(f"video {video}") == 1
    shot(page, "media-frame")

    page.goto(f"/media/{video}/")
    assert page.locator("video").count() == 1
    assert page.locator(".filmstrip li").count() == len(frames)


def test_add_two_results_to_a_new_collection_then_export_it(page, site):
    page.goto(f"/?media={site.media_id('scene_001.jpg')}")
    wait_for_results(page)
    page.click("#new-collection-button")
    page.fill("#new-collection-title", "Checkpoint leads")
    page.click("#new-collection-form button[type=submit]")
    wait_until(page, "document.querySelector('#current-collection').selectedOptions[0].textContent === 'Checkpoint leads (0)'")

    chosen = card_ids(page)[:2]
    for media_id in chosen:
        toggle = page.locator(f'#results .card[data-media-id="{media_id}"] button.toggle')
        toggle.click()
        page.wait_for_selector(f'#results .card[data-media-id="{media_id}"] button.toggle[aria-pressed=true]')
    assert page.locator("#current-collection option:checked").inner_text() == "Checkpoint leads (2)"
    shot(page, "search-collection")

    # One click removes again, and adds back.
    toggle = page.locator(f'#results .card[data-media-id="{chosen[1]}"] button.toggle')
    toggle.click()
    page.wait_for_selector(f'#results .card[data-media-id="{chosen[1]}"] button.toggle[aria-pressed=false]')
    toggle.click()
    page.wait_for_selector(f'#results .card[data-media-id="{chosen[1]}"] button.toggle[aria-pressed=true]')

    page.goto("/collections/")
    row = page.locator("#collections-body tr", has_text="Checkpoint leads")
    row.wait_for()
    assert row.locator("td.num").inner_text() == "2"
    shot(page, "collections")

    row.locator("a", has_text="Checkpoint leads").click()
    page.wait_for_url(re.compile(r"/collections/\d+/$"))
    page.wait_for_selector("#items .card")
    assert sorted(int(x) for x in page.locator("#items .card").evaluate_all("cs => cs.map(c => c.dataset.mediaId)")) == sorted(chosen)

    # Notes in Markdown with a sanitized preview, then saved.
    page.fill("#notes-input", "# Findings\n\nSame checkpoint, **two angles**.\n\n<script>window.__pwned = 1</script>")
    page.click("#tab-preview")
    page.wait_for_selector("#notes-preview strong")
    assert page.locator("#notes-preview h1").inner_text() == "Findings"
    assert page.locator("#notes-preview script").count() == 0
    page.click("#tab-write")
    page.click("#notes-form button[type=submit]")
    wait_until(page, "document.querySelector('#save-status').textContent === 'Saved.'")
    page.click("#tab-preview")
    page.wait_for_selector("#notes-preview strong")
    shot(page, "collection")

    with page.expect_download() as download_info:
        page.click("#export-link")
    download = download_info.value
    assert download.suggested_filename.endswith(".zip")
    with zipfile.ZipFile(download.path()) as archive:
        names = archive.namelist()
        manifest = json.loads(archive.read("manifest.json"))
    assert {"manifest.json", "manifest.csv", "report.md", "report.html"} <= set(names)
    assert manifest["collection"]["title"] == "Checkpoint leads"
    assert "two angles" in manifest["collection"]["notes"]
    assert sorted(item["id"] for item in manifest["items"]) == sorted(chosen)
    assert all(item["status"] == "ok" and item["file"] in names for item in manifest["items"])

    # Remove one item (asks once more), then archive.
    remove = page.locator(f'#items .card[data-media-id="{chosen[0]}"] button')
    remove.click()
    remove.click()
    page.wait_for_selector(f'#items .card[data-media-id="{chosen[0]}"]', state="detached")
    assert page.locator("#collection-count").inner_text() == "1"
    page.click("#archive-button")
    page.locator("#archived-badge").wait_for(state="visible")
    page.goto("/collections/?")
    page.wait_for_selector("#collections-body tr")
    assert page.locator("#collections-body", has_text="Checkpoint leads").count() == 0  # active ones only
    page.select_option("#archived-filter", "true")
    page.locator("#collections-body tr", has_text="Checkpoint leads").wait_for()


def test_dashboard_runs_the_test_task_and_its_progress_bar_moves_to_done(page, site):
    page.goto("/dashboard/")
    page.locator("#ws-state", has_text="connected").wait_for()
    page.locator("#features-body .badge", has_text="ready").first.wait_for()
    page.locator("#counts dd").first.wait_for()
    page.locator("#zoo-body tr[data-model=tiny-random]", has_text="random (seeded)").wait_for()
    page.locator("#clients li", has_text="curator").wait_for()

    page.fill("#test-steps", "6")
    page.fill("#test-interval", "0.3")
    page.click("#test-task-form button[type=submit]")
    task = page.locator("#tasks li.task").first
    task.wait_for()
    bar = task.locator("progress")
    # Seen part-way, then done: the bar moves with the websocket's progress events.
    bar.wait_for()
    wait_until(page, "([el]) => el.value > 0 && el.value < el.max", arg=[bar.element_handle()])
    shot(page, "dashboard-task-running")
    task.locator(".state", has_text="done").wait_for()
    assert bar.evaluate("el => [el.value, el.max]") == [6, 6]
    assert task.get_attribute("data-state") == "SUCCESS"
    shot(page, "dashboard")

    # What the page showed is what the API keeps.
    task_id = task.get_attribute("data-task-id")
    page.reload()
    page.locator(f'#tasks li.task[data-task-id="{task_id}"][data-state=SUCCESS]').wait_for()


def test_a_new_feature_builds_with_its_progress_live_on_the_dashboard(browser, site):
    """Staff watch every build (a build started by creating a feature belongs to nobody,
    so its events go to staff); the bar follows the websocket's progress events."""
    ctx = browser.new_context(base_url=site.base, viewport=DESKTOP)
    console = Console()
    try:
        page = ctx.new_page()
        console.watch(page)
        frames: list[dict] = []
        page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(json.loads(payload))))
        log_in(page, site, site.seed["staff_username"])
        page.goto("/dashboard/")
        page.locator("#ws-state", has_text="connected").wait_for()
        page.locator("#features-body tr[data-feature-id]").first.wait_for()  # the list loads after the socket
        before = page.locator("#features-body tr[data-feature-id]").count()
        assert before >= 1
        page.locator("#feature-model option[value=tiny-random]").wait_for(state="attached")
        # Every value the feature rows' progress bars take, as the page sets them.
        page.evaluate(
            """() => { window.__bars = [];
                new MutationObserver(ms => ms.forEach(m => { const el = m.target;
                  if (el.tagName === 'PROGRESS' && !el.hidden) window.__bars.push([el.value, el.max]); }))
                .observe(document.querySelector('#features-body'), {subtree: true, attributes: true, attributeFilter: ['value', 'max']}); }"""
        )
        page.select_option("#feature-model", "tiny-random")
        page.select_option("#feature-index", "flat")
        page.click("#feature-form button[type=submit]")
        page.locator("#features-body tr[data-feature-id]").nth(before).wait_for()
        row = page.locator("#features-body tr[data-feature-id]").last
        row.locator(".badge", has_text="ready").wait_for(timeout=60_000)
        assert row.locator("td.num").inner_text().startswith(str(site.seed["indexed"]))
        bars = [tuple(b) for b in page.evaluate("window.__bars")]
        shot(page, "dashboard-feature-built")
    finally:
        ctx.close()
    builds = [f for f in frames if f.get("task_name") == "build_index"]
    assert [f["event"] for f in builds][:1] == ["started"] and builds[-1]["event"] == "finished", builds
    progress = [(f["current"], f["total"]) for f in builds if f["event"] == "progress"]
    assert progress and progress[-1][0] == progress[-1][1], progress
    assert any(0 < value for value, _ in bars) and bars[-1][0] == bars[-1][1], (bars, progress)
    assert not console.unexpected(), console.unexpected()


def test_uploads_page_lists_past_queries_searches_again_and_deletes(page, site):
    page.goto("/")
    page.set_input_files("#upload-input", site.seed["queries"]["other"])
    page.wait_for_url(re.compile(r"\?upload=\d+"))
    upload_id = int(page.url.rsplit("=", 1)[1])

    page.goto("/uploads/")
    card = page.locator(f'#uploads .card[data-upload-id="{upload_id}"]')
    card.wait_for()
    # The DOM's text: a .card is content-visibility: auto, and innerText is empty until the
    # browser has first laid out a card that was just inserted.
    assert card.locator(".name").text_content() == "another_query.png"
    shot(page, "uploads")
    card.locator("a", has_text="Search again").click()
    page.wait_for_url(site.url(f"/?upload={upload_id}"))
    wait_for_results(page)

    page.goto("/uploads/")
    card = page.locator(f'#uploads .card[data-upload-id="{upload_id}"]')
    delete = card.locator("button", has_text="Delete")
    delete.click()
    assert delete.inner_text() == "Really delete?"
    delete.click()
    card.wait_for(state="detached")
    page.reload()
    page.locator("#uploads .card").first.wait_for()
    assert page.locator(f'#uploads .card[data-upload-id="{upload_id}"]').count() == 0


def test_a_page_of_100_results_uses_lazy_thumbnails(page, site):
    page.goto(f"/?media={site.media_id('scene_000.jpg')}&limit=100")
    wait_for_results(page, 100)
    images = page.locator("#results .card img")
    assert images.evaluate_all("imgs => imgs.every(i => i.loading === 'lazy' && i.src.includes('/files/') && !i.src.endsWith('.mp4'))")
    thumbs = images.evaluate_all("imgs => imgs.map(i => i.src)")
    assert all("/files/thumbs/" in src for src in thumbs), thumbs[:3]  # thumbnails, never originals
    assert "Results 1–100" in page.locator("#results-summary").inner_text()
    page.click("#next-page")
    page.wait_for_url(re.compile(r"offset=100"))
    wait_until(page, "document.querySelector('#results-summary').textContent.startsWith('Results 101–')")


def test_keyboard_reaches_upload_results_and_collection_toggles(page, site):
    page.goto(f"/?media={site.media_id('scene_002.jpg')}")
    wait_for_results(page)
    seen = []
    for _ in range(60):
        page.keyboard.press("Tab")
        seen.append(page.evaluate("(() => { const a = document.activeElement; return a.id || a.className || a.tagName; })()"))
        if "toggle" in seen[-1]:
            break
    assert "dropzone" in seen and "start-value" in seen and "f-feature" in seen
    assert "thumb" in seen and "details" in seen and "toggle" in seen[-1]
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"


@pytest.fixture(scope="module")
def phone(browser, site):
    """A phone-sized touch context, logged in."""
    ctx = browser.new_context(base_url=site.base, viewport=PHONE, is_mobile=True, has_touch=True)
    page = ctx.new_page()
    log_in(page, site)
    page.close()
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.mark.parametrize("path", ["/", "/media/", "/dashboard/", "/collections/", "/uploads/"])
def test_pages_fit_a_phone_screen(phone, site, path):
    console = Console()
    page = phone.new_page()
    console.watch(page)
    try:
        target = {"/": f"/?media={site.media_id('scene_004.jpg')}", "/media/": f"/media/{site.seed['frames'][0]}/"}.get(path, path)
        page.goto(target)
        page.wait_for_load_state("networkidle")
        # A mobile browser widens the layout viewport to fit wide content: compare with the screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "the page is wider than the phone"
        if path == "/":
            # Results come before the (folded) filters on a phone.
            assert not page.locator("#filters-box").evaluate("d => d.open")
            assert page.locator("#results").evaluate("r => r.getBoundingClientRect().top") < page.locator("#filters-box").evaluate(
                "d => d.getBoundingClientRect().top"
            )
        shot(page, "phone-" + (path.strip("/") or "search"))
    finally:
        page.close()
    assert not console.unexpected(), console.unexpected()


def test_with_a_detection_model_loaded_boxes_are_drawn_on_the_query_image(browser, site):
    """Selecting the detection model changes every user's searches, so staff do it;
    then detections are turned off again through the API's reserved key ``none``."""
    ctx = browser.new_context(base_url=site.base, viewport=DESKTOP)
    ctx.set_default_timeout(20_000)
    console = Console()
    try:
        page = ctx.new_page()
        console.watch(page)
        log_in(page, site, site.seed["staff_username"])
        page.goto("/dashboard/")
        row = page.locator("#zoo-body tr[data-model=detector-random]")
        row.locator("button", has_text="Use for detections").click()
        row.locator(".badge", has_text="loaded").wait_for()
        assert "detection model: detector-random" in page.locator("#search-defaults").inner_text()

        page.goto(f"/?media={site.media_id('scene_006.jpg')}")
        wait_for_results(page)
        boxes = page.locator("#detection-boxes .box")
        boxes.first.wait_for()
        assert 1 <= boxes.count() <= 10
        assert "Detections by detector-random" in page.locator("#detections").inner_text()
        inside = boxes.evaluate_all(
            """bs => { const r = document.querySelector('.query-image-wrap').getBoundingClientRect();
                       return bs.every(b => { const x = b.getBoundingClientRect();
                         return x.left >= r.left - 1 && x.top >= r.top - 1 && x.right <= r.right + 1 && x.bottom <= r.bottom + 1; }); }"""
        )
        assert inside, "a detection box lies outside the query image"
        shot(page, "search-detections")
        # A GET changes nothing (405); the page's own API helper POSTs with its CSRF token.
        console.allow("status of 405 (Method Not Allowed) at http://127.0.0.1")
        assert page.evaluate("() => fetch('/api/v1/search/load_detection_model/none/', {credentials: 'same-origin'}).then(r => r.status)") == 405
        off = page.evaluate("() => VF.api('search/load_detection_model/none/', {method: 'POST'}).then(res => res.detection_model)")
        assert off == "none"
    finally:
        ctx.close()
    assert not console.unexpected(), console.unexpected()


def test_drag_a_region_on_the_query_image_searches_it_and_the_link_keeps_it(page, site):
    page.goto(f"/?media={site.media_id('scene_001.jpg')}")
    wait_for_results(page)
    img = page.locator("#query-image")
    wait_until(page, "document.querySelector('#query-image').complete && document.querySelector('#query-image').naturalWidth > 0")
    box = img.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.6, steps=5)
    page.mouse.up()
    page.wait_for_url(re.compile(r"box=0\.1\d*%2C0\.2\d*%2C0\.5\d*%2C0\.6"))
    page.wait_for_selector("#region-status:not([hidden])")
    wait_for_results(page)
    assert "Region search" in page.locator("#query-info").inner_text()
    assert page.locator("#region-box").is_visible()
    shot(page, "search-region")

    # The link is the search: a reload shows the same region.
    page.reload()
    page.wait_for_selector("#region-status:not([hidden])")

    # A hit added from a region search cites that search.
    page.click("#new-collection-button")
    page.fill("#new-collection-title", "Region leads")
    page.click("#new-collection-form button[type=submit]")
    wait_until(page, "document.querySelector('#current-collection').selectedOptions[0].textContent === 'Region leads (0)'")
    wait_for_results(page)
    first = card_ids(page)[0]
    page.locator(f'#results .card[data-media-id="{first}"] button.toggle').click()
    page.wait_for_selector(f'#results .card[data-media-id="{first}"] button.toggle[aria-pressed=true]')
    collection_id = page.locator("#current-collection").input_value()
    export = page.request.get(site.url(f"/api/v1/collection/{collection_id}/export/"))
    with zipfile.ZipFile(io.BytesIO(export.body())) as archive:
        item = json.loads(archive.read("manifest.json"))["items"][0]
        searches = json.loads(archive.read("searches.json"))["searches"]
    assert item["id"] == first and item["search_record"] == searches[0]["id"]
    assert searches[0]["query"]["box"] is not None

    page.click("#region-clear")
    wait_until(page, "!location.search.includes('box=')")
    page.wait_for_selector("#region-status[hidden]", state="attached")
    wait_for_results(page)


def test_a_batch_reverse_search_started_from_the_page_links_its_report_on_the_dashboard(page, site):
    page.goto("/dashboard/")
    # Two query images drawn in the page: a copy of the seed's scene and a blank one.
    task_id = page.evaluate(
        """async () => {
            const blob = (color) => new Promise((resolve) => {
                const c = document.createElement('canvas'); c.width = 64; c.height = 48;
                const g = c.getContext('2d'); g.fillStyle = color; g.fillRect(0, 0, 64, 48); g.fillStyle = '#fff'; g.fillRect(8, 8, 20, 20);
                c.toBlob(resolve, 'image/png');
            });
            const form = new FormData();
            form.append('files', await blob('#c33'), 'red.png');
            form.append('files', await blob('#33c'), 'blue.png');
            form.append('files', new Blob(['not an image']), 'notes.txt');
            form.append('k', '3');
            const res = await VF.api('search/batch/', { method: 'POST', form });
            return res.task_id;
        }"""
    )
    page.reload()
    link = page.locator(f'li.task[data-task-id="{task_id}"] a.report-html')
    for _ in range(30):
        if link.count():
            break
        page.wait_for_timeout(1000)
        page.reload()
    assert link.get_attribute("href") == f"/api/v1/search/batch/{task_id}/report.html"
    report = page.request.get(site.url(link.get_attribute("href")))
    assert report.status == 200 and "red.png" in report.text() and "notes.txt" in report.text()
    shot(page, "dashboard-batch")
