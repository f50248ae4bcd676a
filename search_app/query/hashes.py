"""The whole-picture perceptual hashes of the collection, compared with the query's: the
channel of copy detection for copies whose vectors have drifted.

A copy made tiny and heavily compressed, blurred or recoloured can score lower against
its source than unrelated look-alikes do, so the vectors alone leave it out of the first
results; its perceptual hash (``modelzoo.phash``: the 63 lowest DCT frequencies of the
whole picture in grey) is still within a few bits of the source's. Every stored picture
keeps its hash (``Media.phash``); a search compares the query's hash, and its mirror
image's, with all of them, and a picture within ``SAME_PICTURE_BITS`` enters the results
as a copy (``query.matching``).

Each web process holds one table of (media id, hash), 16 bytes a picture (16 MB per
million): read once, then topped up with the pictures stored since (by id) at most every
``TOP_UP_SECONDS``, and read again whole every ``RELOAD_SECONDS`` (hashes filled later by
``manage.py media_hashes``; deleted pictures). A scan is one XOR and bit count over the
table. A row deleted since the table was read is dropped with the other deleted
candidates, and a match is checked against its row before it is labelled.
"""

from __future__ import annotations

import threading
import time

import numpy as np

TOP_UP_SECONDS = 10.0
RELOAD_SECONDS = 3600.0
# At most this many pictures enter the results through their hash (a picture copied
# thousands of times: the best of them, the rest come through their vectors).
MAX_MATCHES = 256


class HashTable:
    def __init__(self) -> None:
        self.ids = np.zeros(0, dtype=np.int64)
        self.hashes = np.zeros(0, dtype=np.uint64)
        self.last_id = 0
        self.loaded_at = self.topped_at = float("-inf")
        self._lock = threading.Lock()

    def _read(self, after: int) -> tuple[np.ndarray, np.ndarray]:
        from media_app.models import Media

        rows = Media.objects.filter(pk__gt=after, phash__gte=0).order_by("pk").values_list("pk", "phash")
        pairs = np.asarray(list(rows), dtype=np.int64).reshape(-1, 2)
        return pairs[:, 0].copy(), pairs[:, 1].astype(np.uint64)

    def current(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, hashes), read or topped up when due."""
        now = time.monotonic()
        with self._lock:
            if now - self.loaded_at >= RELOAD_SECONDS:
                self.ids, self.hashes = self._read(0)
                self.loaded_at = self.topped_at = now
            elif now - self.topped_at >= TOP_UP_SECONDS:
                ids, hashes = self._read(self.last_id)
                if ids.size:
                    self.ids, self.hashes = np.concatenate([self.ids, ids]), np.concatenate([self.hashes, hashes])
                self.topped_at = now
            if self.ids.size:
                self.last_id = int(self.ids[-1])
            return self.ids, self.hashes

    def reset(self) -> None:
        with self._lock:
            self.ids = np.zeros(0, dtype=np.int64)
            self.hashes = np.zeros(0, dtype=np.uint64)
            self.last_id = 0
            self.loaded_at = self.topped_at = float("-inf")


_table = HashTable()


def matches(values: list[int | None], max_bits: int) -> dict[int, int]:
    """media id -> the fewest bits between its hash and any of ``values`` (the query's
    hashes; None for a plain picture), for the pictures within ``max_bits``; at most
    MAX_MATCHES, the closest."""
    wanted = [v for v in values if v is not None and v >= 0]
    if not wanted:
        return {}
    from modelzoo.phash import hash_distances

    ids, hashes = _table.current()
    if not ids.size:
        return {}
    bits = np.min(np.stack([hash_distances(hashes, v) for v in wanted]), axis=0)
    near = np.flatnonzero(bits <= max_bits)
    if near.size > MAX_MATCHES:
        near = near[np.argsort(bits[near], kind="stable")[:MAX_MATCHES]]
    return {int(ids[i]): int(bits[i]) for i in near}


def warm() -> int:
    """Read the table now (the server's warm-up: about a second per million pictures);
    returns how many hashes it holds."""
    return int(_table.current()[0].size)


def reset() -> None:
    """Forget the table (tests: each test's database starts empty)."""
    _table.reset()
