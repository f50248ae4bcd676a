"""Model construction and torch's global random generator.

Constructing a network draws its initial weights from torch's global generator, also
when real weights are loaded right after. A random-weight test model is made from a
fixed seed, so it is the same network in every process only if no other model is
constructed in another thread meanwhile (the search warm-up, the ingest's label
classifier, a detector): every construction holds ``BUILD_LOCK``, and ``seeded`` makes
one from a seed without changing the generator's state for anyone else.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

BUILD_LOCK = threading.RLock()


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Hold BUILD_LOCK with torch's generator seeded to ``seed``, restored afterwards."""
    import torch

    with BUILD_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
