"""Markdown notes to safe HTML, for the API, the admin and the exported report.

Any curator writes notes and every read renders them, so the work is bounded before
Markdown runs and while it runs:

- size: at most ``NOTES_MAX_CHARS`` characters;
- nesting: at most ``NOTES_MAX_NESTING`` levels of lists and quotes (each level is a
  recursion of the Markdown parser; a few hundred exhaust Python's stack);
- code fences: opened and never closed, each one makes the fence search read the rest
  of the text, so their total reading is capped;
- time: ``NOTES_RENDER_SECONDS`` of parsing, checked at every pattern attempt;
- output: at most ``NOTES_MAX_HTML_FACTOR`` times the longest notes allowed.

Link text is matched with a table of bracket pairs made once per text, not a scan to
the end of the text at every ``[``, which made ``[[[[…`` quadratic. The services
refuse notes that break a bound (400 naming ``notes``); notes stored before the bounds
existed are shown as escaped plain text with the reason, never an error.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from dataclasses import dataclass
from typing import NamedTuple

import markdown
import nh3
from django.conf import settings
from django.utils.html import escape
from markdown.extensions import Extension
from markdown.extensions.md_in_html import HtmlBlockPreprocessor, HTMLExtractorExtra
from markdown.inlinepatterns import LinkInlineProcessor

logger = logging.getLogger(__name__)

# No <img>: a report opened from an evidence package must not fetch remote resources
# (a tracking pixel in the notes would tell a third party who opened it, and when).
ALLOWED_TAGS = frozenset(nh3.ALLOWED_TAGS) - {"img", "map", "area"}
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto"})
_EXTENSIONS = ["extra", "sane_lists"]

# Characters the fence search may read in all (a few tens of milliseconds).
_MAX_FENCE_SCAN = 2_000_000

DEFAULT_MAX_CHARS = 50_000
DEFAULT_MAX_NESTING = 20
DEFAULT_RENDER_SECONDS = 1.0
DEFAULT_MAX_HTML_FACTOR = 20


class Limits(NamedTuple):
    max_chars: int
    max_nesting: int
    seconds: float
    max_html: int


def limits() -> Limits:
    max_chars = getattr(settings, "NOTES_MAX_CHARS", DEFAULT_MAX_CHARS)
    return Limits(
        max_chars=max_chars,
        max_nesting=getattr(settings, "NOTES_MAX_NESTING", DEFAULT_MAX_NESTING),
        seconds=getattr(settings, "NOTES_RENDER_SECONDS", DEFAULT_RENDER_SECONDS),
        max_html=max_chars * getattr(settings, "NOTES_MAX_HTML_FACTOR", DEFAULT_MAX_HTML_FACTOR),
    )


@dataclass(frozen=True)
class RenderedNotes:
    """Sanitized HTML of some notes; ``problem`` says why they are shown as plain text."""

    html: str
    problem: str | None = None


def render_notes_html(notes: str) -> str:
    """Render Markdown, then sanitize: raw HTML in the notes, script URLs and event
    handlers are removed by nh3, never trusted from the Markdown step. Notes beyond the
    limits come back as escaped plain text."""
    return render_notes(notes).html if notes else ""


def notes_problem(notes: str) -> str | None:
    """Why ``notes`` would not render as Markdown (too long, too deep, too slow), or None."""
    return render_notes(notes).problem if notes else None


def render_notes(notes: str) -> RenderedNotes:
    bounds = limits()
    if len(notes) > bounds.max_chars:  # before anything else, and never cached
        problem = f"Notes are limited to {bounds.max_chars} characters; these have {len(notes)}."
        return RenderedNotes(_plain_html(notes, problem), problem)
    # Cached: a collection is read far more often than its notes change, and notes that
    # run into the time limit then cost that time once per process, not once per read.
    return _render(notes, bounds)


@functools.lru_cache(maxsize=128)
def _render(notes: str, bounds: Limits) -> RenderedNotes:
    problem = _precheck(notes, bounds)
    if problem is None:
        try:
            html = _markdown(notes, bounds)
        except _OverBudget:
            problem = f"They take longer than {bounds.seconds:g} s to render."
        except RecursionError:
            problem = "They are structured too deeply to render."
        except Exception:
            logger.exception("Markdown rendering of notes failed")
            problem = "They could not be rendered."
        else:
            if len(html) <= bounds.max_html:
                return RenderedNotes(html)
            problem = f"Rendered, they would exceed {bounds.max_html} characters."
    return RenderedNotes(_plain_html(notes, problem), problem)


def _plain_html(notes: str, problem: str) -> str:
    return f'<p class="notes-plain-reason"><em>Shown as plain text. {escape(problem)}</em></p>\n<pre class="notes-plain">{escape(notes)}</pre>'


# --- checks before Markdown runs (linear in the length of the notes) -----------------------

_FENCE_OPEN = re.compile(r"""(~{3,}|`{3,})[ ]*(?:\{[^\n]*\}|\.?[\w#.+-]*[ ]*(?:hl_lines=(["']).*?\2[ ]*)?)""")
_FENCE_CLOSE = re.compile(r"(~{3,}|`{3,})[ ]*")
# One container level at the start of a line: a quote marker or a list marker.
_CONTAINER = re.compile(r"[ ]{0,3}(?:>|(?:[-*+]|\d{1,9}[.)])(?=[ \t]|$))[ \t]*")


def _precheck(notes: str, bounds: Limits) -> str | None:
    depth, fence_scan = _structure(notes)
    if depth > bounds.max_nesting:
        return f"Lists and quotes may nest at most {bounds.max_nesting} levels deep; these nest {depth}."
    if fence_scan > _MAX_FENCE_SCAN:
        return "Too many code fences (``` or ~~~) are opened and never closed."
    return None


def _structure(notes: str) -> tuple[int, int]:
    """(deepest nesting of lists and quotes outside fenced code, characters the fence
    search reads). Nesting counts every marker and every 4 columns of indentation at
    the start of a line, an upper bound of what the parser nests."""
    lines = notes.split("\n")
    last_close: dict[str, int] = {}
    for number, line in enumerate(lines):
        if (m := _FENCE_CLOSE.fullmatch(line)) is not None:
            last_close[m.group(1)] = number
    remaining = len(notes)  # characters from the start of the current line to the end
    depth = scan = 0
    fence = None
    for number, line in enumerate(lines):
        if fence is not None:
            if (m := _FENCE_CLOSE.fullmatch(line)) is not None and m.group(1) == fence:
                fence = None
        elif (m := _FENCE_OPEN.fullmatch(line)) is not None:
            if last_close.get(m.group(1), -1) > number:
                fence = m.group(1)
            else:
                scan += remaining  # the search reads to the end, finds no closing fence
        else:
            expanded = line.expandtabs(4)
            body = expanded.lstrip(" ")
            level = (len(expanded) - len(body)) // 4
            pos = 0
            while (m := _CONTAINER.match(body, pos)) is not None and m.end() > pos:
                level += 1
                pos = m.end()
            depth = max(depth, level)
        remaining -= len(line) + 1
    return depth, scan


# --- Markdown with a time budget ---------------------------------------------------------------


class _OverBudget(Exception):
    pass


class _Budget:
    def __init__(self, seconds: float):
        self.deadline = time.thread_time() + seconds

    def check(self) -> None:
        if time.thread_time() > self.deadline:
            raise _OverBudget

    def checked(self, fn):
        @functools.wraps(fn)
        def call(*args, **kwargs):
            self.check()
            return fn(*args, **kwargs)

        return call


class _BracketTable:
    """Where the "]" closing each "[" of a text is, made once per text. Markdown's own
    link parser scans to the end of the text for each "[" that is never closed.

    Positions count from the end of the text: each link found is replaced by a
    placeholder before the next one is looked for, which changes the text before the
    next "[" but not after it, so the table stays valid for what follows."""

    def __init__(self) -> None:
        self.text = ""
        self.close: dict[int, int] = {}  # chars from "[" to the end -> chars from its "]" to the end

    def get_text(self, data: str, index: int) -> tuple[str, int, bool]:
        """LinkInlineProcessor.getText: the text between the "[" at ``index - 1`` and
        its "]", the index after that "]", and whether there was one."""
        if data[index - 1 : index] != "[":
            return LinkInlineProcessor.getText(self, data, index)  # not called so by Markdown; its own scan
        tail = len(data) - index + 1
        if data is not self.text and not (tail <= len(self.text) and self.text.endswith(data[index - 1 :])):
            self._build(data)
        end = self.close.get(tail)
        if end is None:
            return "", len(data), False  # callers drop the text of an unclosed "["
        end = len(data) - end
        return data[index:end], end + 1, True

    def _build(self, text: str) -> None:
        size, stack = len(text), []
        self.text, self.close = text, {}
        for m in re.finditer(r"[\[\]]", text):
            if m.group() == "[":
                stack.append(size - m.start())
            elif stack:
                self.close[stack.pop()] = size - m.start()


class _BoundedHtmlBlockPreprocessor(HtmlBlockPreprocessor):
    budget: _Budget

    def run(self, lines: list[str]) -> list[str]:
        parser = _BoundedHtmlExtractor(self.md, budget=self.budget)
        parser.feed("\n".join(lines))
        parser.close()
        return "".join(parser.cleandoc).split("\n")


class _BoundedHtmlExtractor(HTMLExtractorExtra):
    def __init__(self, md, *args, budget: _Budget, **kwargs):
        self.budget = budget
        super().__init__(md, *args, **kwargs)

    def check_for_whole_start_tag(self, i: int) -> int:
        # A "<" whose tag never ends is re-read to the end of the text, once per "<".
        self.budget.check()
        return super().check_for_whole_start_tag(i)


_ONE_LINE_BLOCK_RES = {
    "abbr": re.compile(r"^[*]\[(?P<abbr>[^\\\n]*?)\][ ]?:[ ]*\n?[ ]*(?P<title>.*)$", re.MULTILINE),
    "footnote": re.compile(r"^[ ]{0,3}\[\^([^\]\n]*)\]:[ ]*(.*)$", re.MULTILINE),
}


class _BoundedExtension(Extension):
    """Checks the budget at every inline pattern attempt, every block processor run and
    every raw HTML start tag; matches link brackets through a table. Registered last, so
    it sees the processors of every other extension."""

    def __init__(self, budget: _Budget):
        super().__init__()
        self.budget = budget

    def extendMarkdown(self, md) -> None:
        brackets = _BracketTable()
        if "footnote" in md.inlinePatterns:
            # "[^" then anything but "]": read to the end of the text at every "[^".
            footnote = md.inlinePatterns["footnote"]
            footnote.compiled_re = re.compile(r"\[\^([^\]\n]{1,200})\]", re.DOTALL | re.UNICODE)
        # Block patterns whose "anything but ]" also crosses lines: each line start would
        # read to the end of the block. Their ids and abbreviations stay on one line.
        for name, regex in _ONE_LINE_BLOCK_RES.items():
            if name in md.parser.blockprocessors:
                md.parser.blockprocessors[name].RE = regex
        for pattern in md.inlinePatterns:
            pattern.handleMatch = self.budget.checked(pattern.handleMatch)
            if isinstance(pattern, LinkInlineProcessor):
                pattern.getText = brackets.get_text
        for processor in md.parser.blockprocessors:
            processor.run = self.budget.checked(processor.run)
        if "html_block" in md.preprocessors and isinstance(md.preprocessors["html_block"], HtmlBlockPreprocessor):
            bounded = _BoundedHtmlBlockPreprocessor(md)
            bounded.budget = self.budget
            md.preprocessors.register(bounded, "html_block", 20)  # in place of md_in_html's (same name and priority)


def _markdown(notes: str, bounds: Limits) -> str:
    budget = _Budget(bounds.seconds)
    md = markdown.Markdown(extensions=[*_EXTENSIONS, _BoundedExtension(budget)], output_format="html")
    html = md.convert(notes)
    budget.check()
    return nh3.clean(html, tags=set(ALLOWED_TAGS), url_schemes=set(ALLOWED_URL_SCHEMES), link_rel="noopener noreferrer nofollow")
