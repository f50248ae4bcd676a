"""The full-text index for the database in use: a generated tsvector column with a GIN
index on PostgreSQL (moved to its own table by 0003), an FTS5 table kept in step by
triggers on SQLite. The statements are written out here, as they were when this
migration was made: text_app.fulltext searches whatever the latest migration built."""

from django.db import migrations

WORDS_TABLE = "text_app_mediawords"
FTS_TABLE = "text_app_words_fts"

PG_INSTALL = [
    f"ALTER TABLE {WORDS_TABLE} ADD COLUMN doc_tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, doc)) STORED",
    f"CREATE INDEX text_app_words_doc_gin ON {WORDS_TABLE} USING GIN (doc_tsv)",
]
PG_UNINSTALL = ["DROP INDEX IF EXISTS text_app_words_doc_gin", f"ALTER TABLE {WORDS_TABLE} DROP COLUMN IF EXISTS doc_tsv"]

SQLITE_INSTALL = [
    f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(doc, content='{WORDS_TABLE}', content_rowid='media_id', tokenize='unicode61 remove_diacritics 0')",
    f"CREATE TRIGGER text_app_words_ai AFTER INSERT ON {WORDS_TABLE} BEGIN INSERT INTO {FTS_TABLE}(rowid, doc) VALUES (new.media_id, new.doc); END",
    f"CREATE TRIGGER text_app_words_ad AFTER DELETE ON {WORDS_TABLE} BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, doc) VALUES ('delete', old.media_id, old.doc); END",
    f"CREATE TRIGGER text_app_words_au AFTER UPDATE ON {WORDS_TABLE} BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, doc) VALUES ('delete', old.media_id, old.doc); "
    f"INSERT INTO {FTS_TABLE}(rowid, doc) VALUES (new.media_id, new.doc); END",
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')",
]
SQLITE_UNINSTALL = [
    "DROP TRIGGER IF EXISTS text_app_words_ai",
    "DROP TRIGGER IF EXISTS text_app_words_ad",
    "DROP TRIGGER IF EXISTS text_app_words_au",
    f"DROP TABLE IF EXISTS {FTS_TABLE}",
]

STATEMENTS = {"postgresql": (PG_INSTALL, PG_UNINSTALL), "sqlite": (SQLITE_INSTALL, SQLITE_UNINSTALL)}


def _run(schema_editor, install: bool) -> None:
    vendor = schema_editor.connection.vendor
    if vendor not in STATEMENTS:
        raise RuntimeError(f"full-text search supports PostgreSQL and SQLite, not {vendor}")
    for sql in STATEMENTS[vendor][0 if install else 1]:
        schema_editor.execute(sql)


def install(apps, schema_editor) -> None:
    _run(schema_editor, True)


def uninstall(apps, schema_editor) -> None:
    _run(schema_editor, False)


class Migration(migrations.Migration):
    dependencies = [("text_app", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall)]
