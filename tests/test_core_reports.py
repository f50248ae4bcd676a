"""core.reports: CSV a spreadsheet cannot run, and the self-contained HTML page shell."""

from __future__ import annotations

import csv
import io

import pytest

from core.reports import HTML_PAGE_END, csv_cell, csv_chunks, html_page, html_page_head


@pytest.mark.parametrize("text", ['=HYPERLINK("http://x")', "+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"])
def test_text_a_spreadsheet_would_run_as_a_formula_gets_a_leading_apostrophe(text):
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize(("value", "cell"), [(None, ""), ("photo.jpg", "photo.jpg"), (-3, -3), (0.25, 0.25)])
def test_other_cells_are_kept_and_none_is_empty(value, cell):
    assert csv_cell(value) == cell


def test_csv_chunks_guard_every_cell_and_stream_in_pieces():
    rows = [["name", "n"], *(["=cmd()", i] for i in range(1000))]
    pieces = list(csv_chunks(rows, chunk_size=1024))
    assert len(pieces) > 2
    parsed = list(csv.reader(io.StringIO("".join(pieces))))
    assert parsed[0] == ["name", "n"] and parsed[1] == ["'=cmd()", "0"] and len(parsed) == 1001


def test_html_page_loads_nothing_from_anywhere_and_escapes_its_title():
    page = html_page("<script>x</script>", "<p>body</p>\n")
    assert "default-src 'none'; style-src 'unsafe-inline'" in page and "img-src" not in page
    assert "<title>&lt;script&gt;x&lt;/script&gt;</title>" in page
    assert page.endswith("<p>body</p>\n" + HTML_PAGE_END)


def test_html_page_with_data_images_allows_only_embedded_images_and_adds_its_css():
    head = html_page_head("Report", css="img { max-width: 1px; }\n", data_images=True)
    assert "default-src 'none'; img-src data:; style-src 'unsafe-inline'" in head
    assert "img { max-width: 1px; }\n</style>" in head and head.endswith("<body>\n")
