"""Two writers of the same bytes at once: exactly one row, one set of files.

Which races can duplicate a row. Media (the collection) and Upload (query
images) are different tables: importing file X and uploading X give one Media row and
one Upload row, by design, so "an ingest racing with an upload" has no shared row to
fight over. The races that can duplicate a row are therefore:

* upload vs upload of the same bytes: two requests pass the "already there?" check
  before either inserts. Covered on PostgreSQL, with two threads and real concurrent
  connections, by media_app/tests/test_services.py::
  test_two_identical_uploads_racing_store_one_record_and_one_set_of_files (and on
  every database, replayed in one thread, by
  test_an_upload_that_loses_the_insert_race_returns_the_winner_and_deletes_its_own_files).
* ingest vs ingest of the same files: below, two ``manage.py ingest`` processes at
  once over the live database, one reading a folder and the other a copy of it under
  other names, in the same order, so they reach the same bytes at the same moment.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.harness import start_manage, wait_for

from .corpus import encode

pytestmark = pytest.mark.slow

FILES = 24
LINE = re.compile(r"^(imported|duplicate)\s+(\S.*?)\s{2}")


def _photo(seed: int) -> bytes:
    """A noisy 1024x768 JPEG: tens of milliseconds to decode and thumbnail, so two
    processes starting together overlap on the same file."""
    rng = np.random.default_rng(seed)
    return encode(Image.fromarray(rng.integers(0, 256, (768, 1024, 3), dtype=np.uint8), "RGB"), "JPEG", quality=90)


def _results(output: str) -> dict[str, str]:
    return {m.group(2): m.group(1) for line in output.splitlines() if (m := LINE.match(line))}


def test_two_ingests_of_the_same_bytes_at_once_store_each_once(live):
    first, second = live.tmp / "race-a", live.tmp / "race-b"
    first.mkdir()
    second.mkdir()
    shas: dict[str, str] = {}
    for n in range(FILES):
        data = _photo(4000 + n)
        (first / f"{n:03d}.jpg").write_bytes(data)
        (second / f"{n:03d} copy.jpg").write_bytes(data)  # same bytes, another name, same order
        shas[f"{n:03d}"] = hashlib.sha256(data).hexdigest()

    runs = [
        start_manage(live.env, live.tmp, f"ingest-{which.name}", "ingest", "-v", "2", "--no-index", "--no-progress", "--workers", "2", str(which))
        for which in (first, second)
    ]
    for run in runs:
        wait_for(lambda run=run: not run.alive(), timeout=180, what=f"{run.name} to finish")
    outputs = [run.output() for run in runs]
    for run, output in zip(runs, outputs, strict=True):
        assert run.popen.returncode == 0, output
        assert "Skipped" not in output and "Traceback" not in output, output

    # Each file was imported by exactly one of the two; the other found it a duplicate.
    seen = [_results(output) for output in outputs]
    assert len(seen[0]) == len(seen[1]) == FILES, outputs
    for n in range(FILES):
        verdicts = sorted([seen[0][str(first / f"{n:03d}.jpg")], seen[1][str(second / f"{n:03d} copy.jpg")]])
        assert verdicts == ["duplicate", "imported"], (n, outputs)

    # One row per bytes, and exactly its original and thumbnail on disk: the loser of an
    # insert race removed its own copies (which may have taken the plain name, leaving
    # the winner's under a suffixed one), never the winner's; no temporary file is left.
    rows = _media_files(live.database.url, list(shas.values()))
    assert sorted(rows) == sorted(shas.values())
    files = live.data_dir / "files"
    for sha, (original, thumbnail) in rows.items():
        shard = f"{sha[:2]}/{sha[2:4]}"
        assert [f"media/{shard}/{p.name}" for p in (files / "media" / shard).iterdir() if p.name.startswith(sha)] == [original]
        assert [f"thumbs/{shard}/{p.name}" for p in (files / "thumbs" / shard).iterdir() if p.name.startswith(sha)] == [thumbnail]
    assert not [p for p in Path(files).rglob("*") if ".incoming-" in p.name]


def _media_files(database_url: str, shas: list[str]) -> dict[str, tuple[str, str]]:
    """sha256 -> (file, thumbnail) of the live database's Media rows with these hashes."""
    sql = "SELECT sha256, file, thumbnail FROM media_app_media WHERE sha256 IN ({})"
    if database_url.startswith("sqlite:///"):
        import sqlite3

        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
            rows = conn.execute(sql.format(",".join("?" * len(shas))), shas).fetchall()
    else:
        import psycopg

        with psycopg.connect(database_url, connect_timeout=5) as conn:
            rows = conn.execute(sql.format(",".join(["%s"] * len(shas))), shas).fetchall()
    assert len(rows) == len({r[0] for r in rows})  # (the unique constraint says so too)
    return {sha: (file, thumb) for sha, file, thumb in rows}
