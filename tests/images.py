"""Images made with Pillow for tests: encoded bytes, a decompression bomb, an upload.

Tests take the ``image_bytes`` fixture of conftest.py; helpers outside a test function
(module-level corpora, fixtures' helpers, other support modules) import from here."""

from __future__ import annotations

import io
import struct
import zlib

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image


def make_image_bytes(width: int = 64, height: int = 48, color=(200, 30, 30), fmt: str = "JPEG", seed: int | None = None, **save_kwargs) -> bytes:
    """Encode a small test image. With ``seed`` the content is a random pattern, so
    different seeds give visually different images."""
    if seed is None:
        img = Image.new("RGB", (width, height), color)
    else:
        import numpy as np

        rng = np.random.default_rng(seed)
        small = rng.integers(0, 256, size=(max(2, height // 8), max(2, width // 8), 3), dtype=np.uint8)
        img = Image.fromarray(small, "RGB").resize((width, height), Image.Resampling.BILINEAR)
    if fmt in ("JPEG",) and img.mode != "RGB":
        img = img.convert("RGB")
    out = io.BytesIO()
    img.save(out, format=fmt, **save_kwargs)
    return out.getvalue()


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header declares ``width`` x ``height`` pixels."""
    data = bytearray(make_image_bytes(8, 8, fmt="PNG"))
    # Signature (8) + IHDR length (4) + b"IHDR" (4), then width and height.
    data[16:24] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF
    data[29:33] = struct.pack(">I", crc)
    return bytes(data)


def image_upload(name: str = "photo.jpg", data: bytes | None = None, content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data if data is not None else make_image_bytes(seed=1), content_type=content_type)
