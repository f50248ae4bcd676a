"""Search by words on the search page, in a real browser: the matching lines' boxes are
drawn over the picture where the text is, and an image search takes the page back."""

from __future__ import annotations

import pytest

from .browser import shot

pytestmark = pytest.mark.slow


def test_words_find_the_picture_and_its_text_is_boxed_where_it_was_read(page, site, console):
    console.allow("status of 400")  # the bad query at the end, on purpose
    page.goto(site.url("/"))
    page.fill("#words-q", "checkpoint")
    page.click("#words-form button[type=submit]")
    page.wait_for_selector("#words-results[aria-busy=false] .words-card")
    cards = page.locator("#words-results .words-card")
    assert cards.count() == 1
    assert int(cards.first.get_attribute("data-media-id")) == site.seed["words_media"]
    assert page.locator("#results").is_hidden()
    assert cards.first.locator(".words-lines li").all_text_contents() == ["CHECKPOINT 7"]  # a .card's innerText waits for layout
    box = cards.first.locator(".words-box")
    assert box.count() == 1 and box.get_attribute("title").startswith("CHECKPOINT 7")
    thumb = cards.first.locator(".words-thumb").bounding_box()
    drawn = box.bounding_box()
    # Placed in percent of the thumbnail: left 10 %, top 20 %, 50 % wide, 15 % high.
    assert abs((drawn["x"] - thumb["x"]) / thumb["width"] - 0.1) < 0.02
    assert abs((drawn["y"] - thumb["y"]) / thumb["height"] - 0.2) < 0.02
    assert abs(drawn["width"] / thumb["width"] - 0.5) < 0.02
    shot(page, "words-search")
    assert "words=checkpoint" in page.url
    page.reload()
    page.wait_for_selector("#words-results[aria-busy=false] .words-card")

    # A bad query says why, from the API.
    page.fill("#words-q", "tank & rifle")
    page.click("#words-form button[type=submit]")
    page.locator(".words-panel [role=alert]", has_text="operator syntax").wait_for()


def test_an_image_search_after_words_shows_the_image_results_again(page, site):
    page.goto(site.url("/?words=checkpoint"))
    page.wait_for_selector("#words-results .words-card")
    page.fill("#start-value", str(site.seed["words_media"]))
    page.click("#start-form button[type=submit]")
    page.wait_for_selector("#results[aria-busy=false] .card")
    assert page.locator("#results").is_visible() and page.locator(".words-block").is_hidden()
