"""Notes rendering: the same HTML as plain Markdown for ordinary notes, bounded work for
hostile ones, and a plain-text fallback (never an error) past any bound."""

from __future__ import annotations

import markdown
import nh3
import pytest

from collections_app import rendering
from collections_app.rendering import ALLOWED_TAGS, ALLOWED_URL_SCHEMES, notes_problem, render_notes, render_notes_html


@pytest.fixture(autouse=True)
def fresh_cache():
    rendering._render.cache_clear()
    yield
    rendering._render.cache_clear()


def plain_markdown(notes: str) -> str:
    html = markdown.markdown(notes, extensions=["extra", "sane_lists"], output_format="html")
    return nh3.clean(html, tags=set(ALLOWED_TAGS), url_schemes=set(ALLOWED_URL_SCHEMES), link_rel="noopener noreferrer nofollow")


ORDINARY = [
    "# Findings\n\nSeen at **dawn**, _twice_.",
    '[source](https://example.org/a_(b)) and [ref][r] and [r] and ![img](https://x/p.png)\n\n[r]: https://example.org/r "Title"',
    "Nested [a [b] c](https://x/) and [unclosed [x](https://y/) and ] stray [",
    "- one\n    - two\n        - three\n- back\n\n1. first\n2. second",
    "> quoted\n> > twice\n\nafter",
    "| a | b |\n|---|---|\n| 1 | 2 |",
    "```python\ndef f():\n    return [x for x in y]\n```\n\n    indented code",
    "Term\n: Definition\n\nFootnote[^1].\n\n[^1]: The note.\n\n*[HTML]: Hyper Text\n\nHTML here.",
    '<b>bold</b> <script>alert(1)</script> <div markdown="1">*in html*</div>',
    "a [^ and [^x] and *[ stray",
]


@pytest.mark.parametrize("notes", ORDINARY)
def test_ordinary_notes_render_exactly_as_plain_markdown(notes):
    rendered = render_notes(notes)
    assert rendered.problem is None
    assert rendered.html == plain_markdown(notes)


def test_unclosed_brackets_render_as_text_in_linear_time():
    # Plain Markdown reads to the end of the text at each "[": 8,000 of them took seconds.
    rendered = render_notes("[" * 8000 + " end [x](https://x/)")
    assert rendered.problem is None
    assert rendered.html == "<p>" + "[" * 8000 + ' end <a href="https://x/" rel="noopener noreferrer nofollow">x</a></p>'


def test_nesting_counts_markers_and_indentation_but_not_fenced_code():
    assert rendering._structure("- a\n    - b\n        > c")[0] == 3
    assert rendering._structure("> > > - - x")[0] == 5
    assert rendering._structure("1. 1. 1. x")[0] == 3
    code = "```\n" + "\n".join(" " * 4 * n + "x" for n in range(60)) + "\n```"
    assert rendering._structure(code)[0] == 0
    assert render_notes(code).problem is None


def test_nesting_beyond_the_limit_is_a_problem_and_renders_as_plain_text(settings):
    settings.NOTES_MAX_NESTING = 5
    notes = "\n".join("    " * n + "- item <b>x</b>" for n in range(6))
    rendered = render_notes(notes)
    assert rendered.problem == "Lists and quotes may nest at most 5 levels deep; these nest 6."
    assert rendered.html.startswith('<p class="notes-plain-reason"><em>Shown as plain text. Lists and quotes may nest at most 5 levels deep')
    assert "- item &lt;b&gt;x&lt;/b&gt;" in rendered.html


def test_notes_longer_than_the_limit_are_not_rendered(settings):
    settings.NOTES_MAX_CHARS = 100
    assert notes_problem("x" * 100) is None
    assert notes_problem("x" * 101) == "Notes are limited to 100 characters; these have 101."


def test_code_fences_never_closed_are_a_problem_once_they_would_be_reread_too_often():
    assert notes_problem("```a\n" * 3) is None
    assert notes_problem("```a\n" * 10_000) == "Too many code fences (``` or ~~~) are opened and never closed."
    assert notes_problem("```a\nx\n```\n" * 4000) is None  # closed ones cost nothing


def test_render_time_is_bounded_and_past_it_notes_are_plain_text(settings):
    settings.NOTES_RENDER_SECONDS = 0.05
    notes = "<a " * 15_000  # a "<" whose tag never ends: the HTML parser rereads the rest each time
    rendered = render_notes(notes)
    assert rendered.problem == "They take longer than 0.05 s to render."
    assert rendered.html.endswith("&lt;a &lt;a </pre>")


def test_a_parser_recursion_error_is_plain_text_not_an_error(settings):
    settings.NOTES_RENDER_SECONDS = 60
    rendered = render_notes("a\n: b\n" * 1000)  # definition lists recurse once per item
    assert rendered.problem == "They are structured too deeply to render."


def test_output_larger_than_the_bound_is_plain_text(settings):
    settings.NOTES_MAX_CHARS = 10_000
    notes = "[r]: https://x/" + "a" * 2000 + "\n\n" + "[a][r] " * 1000  # each reference repeats the long URL
    assert render_notes(notes).problem == "Rendered, they would exceed 200000 characters."


def test_empty_notes_render_to_nothing():
    assert render_notes_html("") == ""
    assert notes_problem("") is None
