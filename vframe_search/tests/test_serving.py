"""The served workers' process-level set-up (vframe_search/serving.py)."""

from __future__ import annotations

import sqlite3

from vframe_search import serving


def test_a_kept_sqlite_connection_stops_each_close_from_checkpointing_the_log(tmp_path, monkeypatch):
    path = tmp_path / "db.sqlite3"
    setup = sqlite3.connect(path)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE t (a)")
    setup.close()
    wal = tmp_path / "db.sqlite3-wal"

    def request(i: int) -> None:  # what Django does per request: connect, write, close
        conn = sqlite3.connect(path)
        conn.execute("INSERT INTO t VALUES (?)", (i,))
        conn.commit()
        conn.close()

    request(1)
    assert not wal.exists()  # the last close checkpointed the log into the file and removed it
    monkeypatch.setattr(serving, "_sqlite_keeper", None)
    serving.keep_sqlite_open(str(path))
    request(2)
    assert wal.exists() and wal.stat().st_size > 0  # still a log: no checkpoint at close
    check = sqlite3.connect(path)
    assert check.execute("SELECT count(*) FROM t").fetchone()[0] == 2
    check.close()
    serving._sqlite_keeper.close()


def test_no_keeper_for_an_in_memory_database(monkeypatch):
    monkeypatch.setattr(serving, "_sqlite_keeper", None)
    serving.keep_sqlite_open("file:memorydb_default?mode=memory&cache=shared")
    assert serving._sqlite_keeper is None
