"""Words: how text is cut into tokens, and what a word query may say.

One tokenizer serves the stored text and the query, on both databases, so a word found
by OCR is matched by the same word typed in any script:

- NFKC, then casefold (``ＳＥＲＩＡＬ`` and ``serial`` are one token), after undoing
  OCR's 0/O and 1/I/l slips from their neighbours (``BATTALI0N`` is ``battalion``);
- a token is a run of letters (with their combining marks) or a run of digits, so
  Cyrillic, Greek, Arabic or Devanagari words stay whole and ``AK47`` is ``ak 47``
  (OCR often drops the space before a number); everything else separates;
- Chinese, Japanese kana and other scripts written without spaces are cut into single
  characters (a CJK word is then a phrase of its characters), since neither
  PostgreSQL's parser nor SQLite's ``unicode61`` tokenizer segments them.

OCR often glues small Latin words together ("Convoyoftrucks"): the stored document
keeps such a run and adds the English words it splits into (:func:`document_tokens`).
The stored search document is these tokens joined by single spaces; PostgreSQL
(``to_tsvector('simple', ...)``) and FTS5 (``unicode61``) split it back into exactly
these tokens.

The query language is deliberately small and the same everywhere::

    rifle 4471            both words (AND)
    "serial number"       a phrase: these tokens next to each other, in order
    tank OR missile       either
    -training             not this word (or -"a phrase")

Punctuation inside a word splits it into a phrase (``4471-B`` is the phrase
``4471 b``). Characters that are full-text operators in PostgreSQL or FTS5 (``& | ! ( )
* : ^ ~ < > { } [ ] \\ + @``) and the bare words ``AND``, ``NOT`` and ``NEAR`` are
refused with a 400 that says so, rather than passed to a database that would reject or
reinterpret them; inside double quotes every character is plain text.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field

from core.errors import InvalidInput

MAX_QUERY_CHARS = 256
"""Longest accepted query, in characters (after trimming)."""
MAX_QUERY_TERMS = 32
"""Most terms (words or phrases) in one query."""

# Scripts written without spaces between words: each character is a token.
_SINGLE_CHAR_RANGES = (
    (0x2E80, 0x2FDF),  # CJK radicals, Kangxi radicals
    (0x3005, 0x3007),  # 々 〆 〇
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width Katakana (NFKC folds most)
    (0x20000, 0x2FA1F),  # CJK extensions B..F, compatibility supplement
)
_OPERATOR_CHARS = set("&|!()*:^~<>{}[]\\+@")
_OPERATOR_WORDS = {"AND", "NOT", "NEAR"}


def _single(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _SINGLE_CHAR_RANGES)


# What a character is to the tokenizer (one of these), looked up once per character:
# tokenizing the lines of a page of hits asked unicodedata about every character.
_SEPARATOR, _LETTER, _DIGIT, _MARK, _SINGLE = range(5)


@functools.lru_cache(maxsize=65536)
def _kind(ch: str) -> int:
    major = unicodedata.category(ch)[0]  # token characters are letters, numbers and marks
    if major not in "LNM":
        return _SEPARATOR
    if _single(ch):
        return _SINGLE
    if ch.isdigit():
        return _DIGIT
    return _MARK if major == "M" else _LETTER


_AS_LETTER = {"0": "O", "1": "I"}
_AS_DIGIT = {"O": "0", "o": "0", "I": "1", "l": "1"}


def _fix_confusions(text: str) -> str:
    """OCR's commonest slips between look-alikes, undone from their neighbours: a 0 or 1
    between two letters is the letter O or I (l before a lower-case letter: "BATTALI0N",
    "BR1GADE", "A1pha"),
    an O, I or l between two digits is the digit ("98O1"). Applied to queries too, so a
    code that really mixes them still finds itself."""
    chars = list(text)
    for i in range(1, len(chars) - 1):
        before, ch, after = chars[i - 1], chars[i], chars[i + 1]
        if ch in _AS_LETTER and before.isalpha() and after.isalpha():
            chars[i] = "l" if ch == "1" and after.islower() else _AS_LETTER[ch]
        elif ch in _AS_DIGIT and before.isdigit() and after.isdigit():
            chars[i] = _AS_DIGIT[ch]
    return "".join(chars)


# ASCII text, the common case, tokenizes by one regular expression: its token
# characters are the letters and digits, and nothing in it is cut into single characters.
_ASCII_TOKENS = re.compile(r"[a-z]+|[0-9]+")


def tokenize(text: str) -> list[str]:
    """The tokens of ``text``, in order (see the module docstring)."""
    text = _fix_confusions(unicodedata.normalize("NFKC", text or "")).casefold()
    if text.isascii():
        return _ASCII_TOKENS.findall(text)
    tokens: list[str] = []
    word: list[str] = []
    digits = False  # whether the current word is a run of digits
    for ch in text:
        kind = _kind(ch)
        if kind == _SEPARATOR:
            if word:
                tokens.append("".join(word))
                word = []
            continue
        if word and kind != _MARK and (kind == _DIGIT) != digits:
            # OCR often drops the space between a word and a number ("NO4471"):
            # letters and digits are separate tokens on both sides of a search.
            tokens.append("".join(word))
            word = []
        if kind == _SINGLE:
            if word:
                tokens.append("".join(word))
                word = []
            tokens.append(ch)
            continue
        digits = kind == _DIGIT
        word.append(ch)
    if word:
        tokens.append("".join(word))
    return tokens


# A run of Latin letters this long is looked at for words OCR glued together.
GLUED_MIN_CHARS = 10


@functools.lru_cache(maxsize=16384)
def _unglued(token: str) -> tuple[str, ...]:
    """The English words of a token OCR glued together ("convoyoftrucks" -> convoy, of,
    trucks), or () when it does not split into two or more. PP-OCRv4's recogniser often
    drops the spaces of small Latin text; wordninja splits by English word frequencies.
    Remembered per token: the same runs recur on every page of hits that shows them."""
    if len(token) < GLUED_MIN_CHARS or not token.isascii() or not token.isalpha():
        return ()
    import wordninja

    parts = tuple(p.lower() for p in wordninja.split(token))
    return parts if len(parts) > 1 and "".join(parts) == token else ()


def document_tokens(text: str) -> list[str]:
    """The tokens a search document holds for ``text``: its tokens, each glued run of
    words followed by the words it splits into, so both the glued run and each word
    (and a phrase of them) are found."""
    out: list[str] = []
    for token in tokenize(text):
        out.append(token)
        out.extend(_unglued(token))
    return out


def search_document(text: str) -> str:
    """What is stored and indexed for ``text``: its document tokens joined by spaces."""
    return " ".join(document_tokens(text))


@dataclass(frozen=True)
class Term:
    """A word or phrase: its tokens, matched next to each other in order."""

    tokens: tuple[str, ...]
    source: str

    @property
    def is_phrase(self) -> bool:
        return len(self.tokens) > 1


@dataclass(frozen=True)
class WordsQuery:
    """A parsed query: every group must match (a group is terms joined by OR), and no
    excluded term may."""

    text: str
    groups: tuple[tuple[Term, ...], ...]
    excluded: tuple[Term, ...] = field(default=())

    @property
    def tokens(self) -> set[str]:
        """Every token the query looks for (not the excluded ones): what a hit's
        matching lines are picked by."""
        return {t for group in self.groups for term in group for t in term.tokens}


def _invalid(message: str, field_name: str) -> InvalidInput:
    return InvalidInput(message, fields={field_name: [message]})


def _lex(text: str, field_name: str) -> list[tuple[str, str, bool]]:
    """(kind, value, negated) items: kind 'term' (value is the raw text) or 'or'."""
    items: list[tuple[str, str, bool]] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        negated = False
        if ch == "-" and i + 1 < n and not text[i + 1].isspace():
            negated = True
            i += 1
            ch = text[i]
        if ch == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise _invalid('Unbalanced double quote: close the phrase with a second ".', field_name)
            items.append(("term", text[i + 1 : end], negated))
            i = end + 1
            continue
        start = i
        while i < n and not text[i].isspace() and text[i] != '"':
            if text[i] in _OPERATOR_CHARS:
                raise _invalid(
                    f'{text[i]!r} is full-text operator syntax, which is not accepted. Search words, "exact phrases", '
                    "OR between alternatives and -word to exclude; put text with such characters in double quotes.",
                    field_name,
                )
            i += 1
        word = text[start:i]
        if word == "OR" and not negated:
            items.append(("or", word, False))
        elif word in _OPERATOR_WORDS:
            raise _invalid(
                f"{word} is full-text operator syntax, which is not accepted: words are all required already, "
                'use -word to exclude one, or write "' + word.lower() + '" in quotes to search for the word.',
                field_name,
            )
        else:
            items.append(("term", word, negated))
    return items


def parse_query(text: str, *, field_name: str = "q") -> WordsQuery:
    """Parse a word query; InvalidInput (400, naming ``field_name``) for an empty or
    whitespace-only query, one longer than MAX_QUERY_CHARS or with more than
    MAX_QUERY_TERMS terms, operator syntax, a dangling OR, or nothing left to search
    for but excluded terms."""
    if text is None or not str(text).strip():
        raise _invalid("The query is empty: give at least one word.", field_name)
    text = str(text).strip()
    if len(text) > MAX_QUERY_CHARS:
        raise _invalid(f"The query is {len(text)} characters long; at most {MAX_QUERY_CHARS} are accepted.", field_name)
    if "\x00" in text:
        raise _invalid("The query contains a NUL character.", field_name)
    items = _lex(text, field_name)
    if sum(1 for kind, _, _ in items if kind == "term") > MAX_QUERY_TERMS:
        raise _invalid(f"The query has more than {MAX_QUERY_TERMS} words or phrases.", field_name)
    groups: list[list[Term]] = []
    excluded: list[Term] = []
    pending_or = False
    previous_kind = None
    for kind, value, negated in items:
        if kind == "or":
            if previous_kind != "term" or pending_or:
                raise _invalid("OR must stand between two words or phrases.", field_name)
            pending_or = True
            previous_kind = kind
            continue
        previous_kind = kind
        tokens = tuple(tokenize(value))
        if negated:
            if pending_or:
                raise _invalid("An excluded term (-word) cannot be one side of an OR.", field_name)
            if tokens:
                excluded.append(Term(tokens, value))
            continue
        if not tokens:
            if pending_or:
                raise _invalid("OR must stand between two words or phrases.", field_name)
            continue  # punctuation only: nothing to match
        term = Term(tokens, value)
        if pending_or and groups:
            groups[-1].append(term)
        else:
            groups.append([term])
        pending_or = False
    if pending_or:
        raise _invalid("OR must stand between two words or phrases.", field_name)
    if not groups:
        if excluded:
            raise _invalid("The query only excludes words: give at least one word to search for.", field_name)
        raise _invalid("The query has no words to search for (only punctuation).", field_name)
    return WordsQuery(text=text, groups=tuple(tuple(g) for g in groups), excluded=tuple(excluded))


# --- compiled forms ----------------------------------------------------------------------------


def _pg_term(term: Term) -> str:
    # Tokens hold only letters, digits and marks: no quote or backslash to escape.
    return "(" + " <-> ".join(f"'{t}'" for t in term.tokens) + ")" if term.is_phrase else f"'{term.tokens[0]}'"


def to_tsquery(query: WordsQuery) -> str:
    """The query as PostgreSQL ``tsquery`` input (cast with ``::tsquery``: lexemes are
    taken as they are, already normalised by :func:`tokenize`)."""
    parts = ["(" + " | ".join(_pg_term(t) for t in group) + ")" for group in query.groups]
    parts += ["!" + _pg_term(t) for t in query.excluded]
    return " & ".join(parts)


def _fts5_term(term: Term) -> str:
    return '"' + " ".join(term.tokens) + '"'


def to_fts5(query: WordsQuery) -> str:
    """The query as an SQLite FTS5 MATCH expression (every token quoted)."""
    expr = " AND ".join("(" + " OR ".join(_fts5_term(t) for t in group) + ")" for group in query.groups)
    for term in query.excluded:
        expr = f"({expr}) NOT {_fts5_term(term)}"
    return expr


def line_matches(query: WordsQuery, line: str) -> bool:
    """Whether a stored line shows one of the query's terms (a phrase: all its tokens
    in order, next to each other)."""
    tokens = document_tokens(line)
    for group in query.groups:
        for term in group:
            n = len(term.tokens)
            if any(tuple(tokens[i : i + n]) == term.tokens for i in range(len(tokens) - n + 1)):
                return True
    return False
