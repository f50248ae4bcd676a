"""Markdown notes to safe HTML, for the API, the admin and the exported report."""

from __future__ import annotations

import markdown
import nh3

# No <img>: a report opened from an evidence package must not fetch remote resources
# (a tracking pixel in the notes would tell a third party who opened it, and when).
ALLOWED_TAGS = frozenset(nh3.ALLOWED_TAGS) - {"img", "map", "area"}
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto"})
_EXTENSIONS = ["extra", "sane_lists"]


def render_notes_html(notes: str) -> str:
    """Render Markdown, then sanitize: raw HTML in the notes, script URLs and event
    handlers are removed by nh3, never trusted from the Markdown step."""
    if not notes:
        return ""
    html = markdown.markdown(notes, extensions=_EXTENSIONS, output_format="html")
    return nh3.clean(html, tags=set(ALLOWED_TAGS), url_schemes=set(ALLOWED_URL_SCHEMES), link_rel="noopener noreferrer nofollow")
