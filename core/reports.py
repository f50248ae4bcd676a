"""Reports that people open away from the server, in a spreadsheet or a browser: CSV
whose cells a spreadsheet cannot run as formulas, and one self-contained HTML page shell."""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Iterable, Iterator

# Spreadsheet programs read a CSV file that starts with this mark as UTF-8.
UTF8_BOM = "\ufeff"

# A text cell starting with one of these is a formula to a spreadsheet program.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> object:
    """``value`` as a CSV cell: None is empty, and text a spreadsheet would run as a
    formula (CSV injection: names and paths come from users) gets a leading apostrophe.
    Numbers are kept as they are; a JSON copy of a report keeps every value unchanged."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_chunks(rows: Iterable[Iterable], *, chunk_size: int = 256 * 1024) -> Iterator[str]:
    """The CSV text of ``rows`` (a header is simply the first row), every cell through
    :func:`csv_cell`, in pieces of about ``chunk_size`` characters, so a large file can be
    streamed. No byte-order mark: a file for spreadsheets starts with :data:`UTF8_BOM`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
        if buffer.tell() >= chunk_size:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


_PAGE_CSS = """body { font-family: system-ui, sans-serif; margin: 2rem; color: #111; }
table { border-collapse: collapse; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
code { font-size: 0.8rem; word-break: break-all; }
"""

HTML_PAGE_END = "</body>\n</html>\n"


def html_page_head(title: str, *, css: str = "", data_images: bool = False) -> str:
    """The start of a self-contained HTML report, up to and with ``<body>``; the report's
    own markup follows, then :data:`HTML_PAGE_END`.

    The page loads nothing from anywhere: its Content-Security-Policy allows only inline
    styles and, with ``data_images``, images embedded as ``data:`` URIs, and no referrer
    leaves with a link. ``title`` is escaped here; ``css`` is added after the shared rules.
    """
    img_src = " img-src data:;" if data_images else ""
    return (
        "<!doctype html>\n"
        '<html lang="en">\n'
        "<head>\n"
        '<meta charset="utf-8">\n'
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none';{img_src} style-src 'unsafe-inline'\">\n"
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{html.escape(title)}</title>\n"
        f"<style>\n{_PAGE_CSS}{css}</style>\n"
        "</head>\n"
        "<body>\n"
    )


def html_page(title: str, body: str, *, css: str = "", data_images: bool = False) -> str:
    """A whole self-contained HTML report around ``body`` (see :func:`html_page_head`)."""
    return html_page_head(title, css=css, data_images=data_images) + body + HTML_PAGE_END
