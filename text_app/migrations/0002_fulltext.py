"""The full-text index for the database in use: a generated tsvector column with a GIN
index on PostgreSQL, an FTS5 table kept in step by triggers on SQLite
(text_app.fulltext)."""

from django.db import migrations

from text_app.fulltext import install, uninstall


class Migration(migrations.Migration):
    dependencies = [("text_app", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall)]
