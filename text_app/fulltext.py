"""The full-text index over :attr:`MediaWords.doc`, one implementation per database.

PostgreSQL: a narrow table of ``tsvector`` values (``to_tsvector('simple', doc)``: no
stemming and no stop words, so serial numbers, names and any script match as written),
one row per picture with text, with a GIN index, kept in step with the rows by
triggers; ranked by ``ts_rank``. (Every match reads its tsvector: from a table that
holds only them, a common word is matched and ranked in half the time it takes from
the rows that also carry the text.) SQLite: an external-content FTS5 table
(``unicode61``, diacritics kept) that triggers keep in step with the rows; ranked by
``bm25``. Migrations 0002 and 0003 create them.

Both search the same compiled query (``text_app.query``) and page the same way: ranked
by relevance, ties by media id, so a page is a slice of one ordered list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection

from core.errors import InvalidInput

from .query import WordsQuery, to_fts5, to_tsquery

LABELS_TABLE = "text_app_medialabel"
# PostgreSQL: (media_id, doc_tsv) of every picture with text (migration 0003).
TSV_TABLE = "text_app_words_tsv"
# SQLite: the FTS5 table over text_app_mediawords.doc (migration 0002).
FTS_TABLE = "text_app_words_fts"


@dataclass(frozen=True)
class Filters:
    """What every word search may be narrowed to."""

    media_type: str | None = None
    created_from: datetime | None = None
    created_before: datetime | None = None
    # SQL (with params) of a subquery of allowed media ids, e.g. a collection's members.
    media_ids_sql: tuple[str, tuple] | None = None


def _filter_sql(filters: Filters, id_column: str) -> tuple[list[str], list[Any]]:
    from media_app.models import Media

    where: list[str] = []
    params: list[Any] = []
    media = Media._meta.db_table
    if filters.media_type or filters.created_from or filters.created_before:
        where.append(f"EXISTS (SELECT 1 FROM {media} m WHERE m.id = {id_column}")
        if filters.media_type:
            where[-1] += " AND m.media_type = %s"
            params.append(filters.media_type)
        if filters.created_from:
            where[-1] += " AND m.created_at >= %s"
            params.append(filters.created_from)
        if filters.created_before:
            where[-1] += " AND m.created_at < %s"
            params.append(filters.created_before)
        where[-1] += ")"
    if filters.media_ids_sql is not None:
        sql, sub_params = filters.media_ids_sql
        where.append(f"{id_column} IN ({sql})")
        params.extend(sub_params)
    return where, params


def _run(sql: str, params: list[Any]) -> list[tuple[int, float]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(int(pk), float(score)) for pk, score in cursor.fetchall()]


def _text_clause(query: WordsQuery, id_column: str) -> tuple[str, str, list[Any], list[Any]]:
    """(where, rank expression, where params, rank params) of a text match on media
    ``id_column``."""
    if connection.vendor == "postgresql":
        tsq = to_tsquery(query)
        where = f"{id_column} IN (SELECT w.media_id FROM {TSV_TABLE} w WHERE w.doc_tsv @@ %s::tsquery)"
        rank = f"(SELECT ts_rank(w.doc_tsv, %s::tsquery) FROM {TSV_TABLE} w WHERE w.media_id = {id_column})"
        return where, rank, [tsq], [tsq]
    expr = to_fts5(query)
    where = f"{id_column} IN (SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s)"
    rank = f"(SELECT -bm25({FTS_TABLE}) FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s AND rowid = {id_column})"
    return where, rank, [expr], [expr]


def text_ranked(query: WordsQuery, *, filters: Filters, offset: int, limit: int) -> list[tuple[int, float]]:
    """``(media_id, relevance)`` of media whose text matches, best first (ties by id),
    rows ``offset`` to ``offset + limit``."""
    where, params = _filter_sql(filters, "r.media_id" if connection.vendor == "postgresql" else "r.rowid")
    if connection.vendor == "postgresql":
        sql = (
            f"SELECT r.media_id, ts_rank(r.doc_tsv, q.q) AS score FROM {TSV_TABLE} r, CAST(%s AS tsquery) AS q(q) "
            f"WHERE r.doc_tsv @@ q.q" + "".join(f" AND {w}" for w in where) + " ORDER BY score DESC, r.media_id LIMIT %s OFFSET %s"
        )
        return _run(sql, [to_tsquery(query), *params, limit, offset])
    sql = (
        f"SELECT r.rowid AS media_id, -bm25({FTS_TABLE}) AS score FROM {FTS_TABLE} r WHERE {FTS_TABLE} MATCH %s"
        + "".join(f" AND {w}" for w in where)
        + " ORDER BY score DESC, r.rowid LIMIT %s OFFSET %s"
    )
    return _sqlite_run(sql, [to_fts5(query), *params, limit, offset])


def _sqlite_run(sql: str, params: list[Any]) -> list[tuple[int, float]]:
    from django.db import DatabaseError

    try:
        return _run(sql, params)
    except DatabaseError as exc:  # the compiler quotes every token; this is a last guard
        if "fts5" in str(exc).lower():
            raise InvalidInput(f"The query could not be searched: {exc}", fields={"q": [str(exc)]}) from None
        raise


def labels_ranked(
    label_ids: list[int], *, modelzoo_name: str, query: WordsQuery | None, filters: Filters, min_score: float | None, offset: int, limit: int
) -> list[tuple[int, float]]:
    """``(media_id, score)`` of media labelled with one of ``label_ids`` by
    ``modelzoo_name``, by the best such label's probability (ties by id); with
    ``query``, only media whose text also matches."""
    where, params = _filter_sql(filters, "l.media_id")
    if query is not None:
        text_where, _, text_params, _ = _text_clause(query, "l.media_id")
        where.append(text_where)
        params.extend(text_params)
    having = ""
    having_params: list[Any] = []
    if min_score is not None:
        having = " HAVING MAX(l.score) >= %s"
        having_params.append(min_score)
    placeholders = ", ".join(["%s"] * len(label_ids))
    sql = (
        f"SELECT l.media_id, MAX(l.score) AS score FROM {LABELS_TABLE} l WHERE l.label_id IN ({placeholders}) AND l.modelzoo_name = %s"
        + "".join(f" AND {w}" for w in where)
        + f" GROUP BY l.media_id{having} ORDER BY score DESC, l.media_id LIMIT %s OFFSET %s"
    )
    all_params = [*label_ids, modelzoo_name, *params, *having_params, limit, offset]
    return _sqlite_run(sql, all_params) if connection.vendor == "sqlite" else _run(sql, all_params)


def text_matching_ids(query: WordsQuery) -> set[int]:
    """Every media id whose text matches (an image search filtered by words)."""
    if connection.vendor == "postgresql":
        sql = f"SELECT media_id FROM {TSV_TABLE} WHERE doc_tsv @@ %s::tsquery"
        params = [to_tsquery(query)]
    else:
        sql = f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH %s"
        params = [to_fts5(query)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {int(row[0]) for row in cursor.fetchall()}
