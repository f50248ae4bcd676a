"""Settings of the processes the fault tests start: the deployment's own settings, with
the vector store writing a shard every few vectors, so an index build killed half-way
has already stored some of its work (what a long build over a large collection does
every ``INDEX_SHARD_ITEMS`` vectors)."""

from __future__ import annotations

from vframe_search.settings import *  # noqa: F403

INDEX_SHARD_ITEMS = 8
