"""Every non-trivial read of the text app: word and label search (one exact page),
the lines and labels a page of hits shows, and the text of items for exports."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from core.errors import InvalidInput

from . import fulltext
from .fulltext import Filters
from .models import MediaLabel, MediaWords, TextLine
from .query import WordsQuery, document_tokens, line_matches, parse_query

MAX_LABEL_CHARS = 100


@dataclass
class WordsHit:
    media_id: int
    score: float
    lines: list[TextLine] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class WordsPage:
    hits: list[WordsHit]
    has_more: bool
    label_ids: list[int]
    label_model: str


def label_classes(label: str, *, field_name: str = "label") -> list[int]:
    """The ImageNet classes ``label`` names (modelzoo.labels.classes_named); 400 naming
    ``field_name`` for an empty or unknown one."""
    from modelzoo.labels import classes_named

    text = " ".join(str(label or "").split())
    if not text:
        raise InvalidInput("The label is empty.", fields={field_name: ["Give an ImageNet class name, e.g. tank."]})
    if len(text) > MAX_LABEL_CHARS:
        raise InvalidInput(f"The label is longer than {MAX_LABEL_CHARS} characters.", fields={field_name: ["Too long."]})
    ids = classes_named(text)
    if not ids:
        message = f"No ImageNet class is called {text!r} (e.g. tank, assault rifle, missile, warplane, military uniform)."
        raise InvalidInput(message, fields={field_name: [message]})
    return ids


def words_search(
    *,
    query: WordsQuery | None,
    label_ids: list[int] | None = None,
    filters: Filters | None = None,
    min_score: float | None = None,
    offset: int = 0,
    limit: int = 30,
) -> WordsPage:
    """One page of media whose OCR text matches ``query`` and/or that carry one of
    ``label_ids``. With labels: ranked by the label's probability (the text, if any,
    filters); text only: by text relevance. Ties go to the lower media id, so pages
    are slices of one list. ``has_more`` says whether a next page has any item."""
    from modelzoo.labels import label_model_name

    filters = filters or Filters()
    model = label_model_name()
    if label_ids:
        rows = fulltext.labels_ranked(label_ids, modelzoo_name=model, query=query, filters=filters, min_score=min_score, offset=offset, limit=limit + 1)
    elif query is not None:
        rows = fulltext.text_ranked(query, filters=filters, offset=offset, limit=limit + 1)
    else:
        raise InvalidInput("Give words to search for (q) or a label.", fields={"q": ["Required unless label is given."]})
    has_more = len(rows) > limit
    hits = [WordsHit(media_id=pk, score=score) for pk, score in rows[:limit]]
    hits_detail(hits, query=query, label_ids=label_ids or [], label_model=model)
    return WordsPage(hits=hits, has_more=has_more, label_ids=list(label_ids or []), label_model=model)


def hits_detail(hits: list[WordsHit], *, query: WordsQuery | None, label_ids: list[int], label_model: str) -> None:
    """Fill each hit's matching lines (those showing a query term; for a phrase split
    over lines, those showing one of its words) and matching labels, in two queries."""
    from modelzoo.labels import label_name

    ids = [h.media_id for h in hits]
    lines: dict[int, list[TextLine]] = defaultdict(list)
    if query is not None and ids:
        for line in TextLine.objects.filter(media_id__in=ids).order_by("media_id", "n"):
            lines[line.media_id].append(line)
    labels: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if label_ids and ids:
        for row in MediaLabel.objects.filter(media_id__in=ids, modelzoo_name=label_model, label_id__in=label_ids).order_by("media_id", "rank"):
            labels[row.media_id].append({"label": label_name(row.label_id), "label_id": row.label_id, "score": round(row.score, 6)})
    tokens = query.tokens if query is not None else set()
    for hit in hits:
        media_lines = lines.get(hit.media_id, [])
        matched = [line for line in media_lines if line_matches(query, line.text)] if query is not None else []
        if not matched and tokens:
            matched = [line for line in media_lines if tokens & set(document_tokens(line.text))]
        hit.lines = matched
        hit.labels = labels.get(hit.media_id, [])


_COUNT_SECONDS = 10.0
_count: list[float] = [0.0, 0.0]  # [valid until (monotonic), value]


def words_count() -> int:
    """Pictures whose text has been read (what a word search searches), as answers show
    it: counting 100,000 rows costs tens of milliseconds, so a process reuses the figure
    for a few seconds."""
    import time

    now = time.monotonic()
    if _count[0] <= now:
        _count[1] = MediaWords.objects.exclude(ocr_at=None).count()
        _count[0] = now + _COUNT_SECONDS
    return int(_count[1])


def media_ids_matching(text: str, *, field_name: str = "text") -> set[int]:
    """Ids of the media whose OCR text matches the word query ``text`` (400 naming
    ``field_name`` when it is not a valid query)."""
    return fulltext.text_matching_ids(parse_query(text, field_name=field_name))


def media_words(media_ids: list[int]) -> dict[int, dict[str, Any]]:
    """What was read on each media for exports and reports: ``text`` (lines joined by
    newlines, "" when none or not read), ``ocr`` (whether OCR has run), ``lines`` (text,
    box, confidence) and ``labels`` (label, label_id, score, most likely first)."""
    from modelzoo.labels import label_model_name, label_name

    out: dict[int, dict[str, Any]] = {pk: {"ocr": False, "text": "", "lines": [], "labels": []} for pk in media_ids}
    if not media_ids:
        return out
    for words in MediaWords.objects.filter(media_id__in=media_ids).only("media_id", "text", "ocr_at"):
        out[words.media_id]["ocr"] = words.ocr_at is not None
        out[words.media_id]["text"] = words.text
    for line in TextLine.objects.filter(media_id__in=media_ids).order_by("media_id", "n"):
        out[line.media_id]["lines"].append({"text": line.text, "box": line.box, "confidence": line.confidence})
    for row in MediaLabel.objects.filter(media_id__in=media_ids, modelzoo_name=label_model_name()).order_by("media_id", "rank"):
        out[row.media_id]["labels"].append({"label": label_name(row.label_id), "label_id": row.label_id, "score": round(row.score, 6)})
    return out


def media_text_summary(media_ids: list[int]) -> dict[int, dict[str, str]]:
    """Per media, for exports and reports, in two queries: ``ocr_text`` (the lines read,
    one per line; "" when none or OCR has not run) and ``labels`` ("tank 0.912; ...", most
    likely first). Media with neither are left out."""
    from modelzoo.labels import label_model_name, label_name

    out: dict[int, dict[str, str]] = {}
    if not media_ids:
        return out
    for media_id, text in MediaWords.objects.filter(media_id__in=media_ids).exclude(text="").values_list("media_id", "text"):
        out.setdefault(media_id, {"ocr_text": "", "labels": ""})["ocr_text"] = text
    labels: dict[int, list[str]] = defaultdict(list)
    rows = MediaLabel.objects.filter(media_id__in=media_ids, modelzoo_name=label_model_name()).order_by("media_id", "rank")
    for media_id, label_id, score in rows.values_list("media_id", "label_id", "score"):
        labels[media_id].append(f"{label_name(label_id)} {score:.3f}")
    for media_id, names in labels.items():
        out.setdefault(media_id, {"ocr_text": "", "labels": ""})["labels"] = "; ".join(names)
    return out
