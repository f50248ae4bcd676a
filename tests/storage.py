"""Looking at what a test's file storage holds."""

from __future__ import annotations

from pathlib import Path


def stored_files(root: Path) -> list[Path]:
    """Every regular file under the storage root, relative to it."""
    if not root.exists():
        return []
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
