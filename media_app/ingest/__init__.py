"""Batch ingestion: walk folders, import every image and video once, report the rest.

``manage.py ingest`` is a thin shell around :func:`ingest_run`; a task ingesting a
server-side folder can call the same functions.

What happens to each file:

1. ``os.stat``: only regular files are opened (a FIFO would block forever, a device
   never ends); empty files are skipped.
2. It is hashed (sha256). A hash already in the database is a duplicate, reported with
   the existing row, and nothing is decoded: a rerun over a finished folder is cheap.
3. It is classified by decoding, never by extension: Pillow identifies images, FFmpeg
   probes videos.
4. Images go through ``media_create_image``, the same service as ``POST upload/``.
   Videos have their keyframes extracted into a scratch folder first; then
   ``media_create_video`` stores the files and creates the video row and all its frame
   rows in one transaction.

One bad file (unreadable, truncated, not media) is reported with a reason code and
skipped; the batch goes on.

Crash safety. Each file is imported on its own, files written before rows, rows in one
transaction; an exception, Ctrl-C or SIGTERM (the command turns it into Ctrl-C) makes
the services delete the files they had written. For what no handler sees (kill -9,
power loss) every run holds an *owner* lock (``flock`` on a file under
``DATA_DIR/ingest``, released by the kernel when the process dies, whatever the pid
namespace or host name), and before storing anything it writes a journal entry listing
the sha256 of every file it is about to store. The next run takes the locks of dead
owners, deletes every stored file of their journalled hashes that no row references,
and removes their scratch folders. Committed work is then a duplicate and the rest is
imported again, so rerunning finishes the job with no duplicate rows and no orphans.
"""

from __future__ import annotations

from core.progress import Reporter

from .recovery import ingest_recover
from .results import DUPLICATE, IMPORTED, INTERRUPTED, SKIPPED, FileResult, IngestOptions, IngestSummary
from .run import ingest_index, ingest_run
from .walk import allowed_server_folder, ingest_collect

__all__ = [
    "DUPLICATE",
    "IMPORTED",
    "INTERRUPTED",
    "SKIPPED",
    "FileResult",
    "IngestOptions",
    "IngestSummary",
    "Reporter",
    "allowed_server_folder",
    "ingest_collect",
    "ingest_index",
    "ingest_recover",
    "ingest_run",
]
