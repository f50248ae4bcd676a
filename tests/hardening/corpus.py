"""Files that people really put into an evidence collection, made by the tests.

Each builder returns the bytes of one odd-but-valid or broken file. The upload corpus
(test_upload_corpus.py) and the ingest corpus (test_ingest_corpus.py) use the same
builders, so an image the API accepts is one the ingest imports, and the other way
round.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from tests.images import make_image_bytes, png_bomb

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
EXIF_ORIENTATION = 0x0112
GIF_FRAMES = 3000


def pattern(width: int = 128, height: int = 96, seed: int = 3) -> Image.Image:
    """A smooth random RGB picture: no symmetry, so a rotation changes what a model sees."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(max(2, height // 16), max(2, width // 16), 3), dtype=np.uint8)
    return Image.fromarray(small, "RGB").resize((width, height), Image.Resampling.BILINEAR)


def encode(img: Image.Image, fmt: str = "JPEG", **kwargs) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **kwargs)
    return out.getvalue()


def jpeg(img: Image.Image, **kwargs) -> bytes:
    # 4:4:4 at high quality: a rotated copy then differs from the upright one only by
    # rounding, not by where chroma subsampling falls.
    return encode(img, "JPEG", quality=95, subsampling=0, **kwargs)


@cache
def animated_gif(frames: int = GIF_FRAMES, size: int = 128) -> bytes:
    """A GIF of ``frames`` frames: the first red, then blue and green alternating (no two
    neighbours equal, so Pillow's writer cannot merge them). Flat colours compress to a
    few hundred bytes a frame; decoding every frame would still cost seconds and
    ``frames`` full pictures of memory."""
    first = Image.new("RGB", (size, size), RED).convert("P")
    rest = [Image.new("RGB", (size, size), BLUE if n % 2 else GREEN).convert("P") for n in range(frames - 1)]
    return encode(first, "GIF", save_all=True, append_images=rest, duration=20, loop=0)


def cmyk_jpeg(width: int = 64, height: int = 48) -> bytes:
    """A print-workflow JPEG: four channels; full magenta and yellow, no cyan, no black,
    which prints (and must thumbnail) as red."""
    return encode(Image.new("CMYK", (width, height), (0, 255, 255, 0)), "JPEG", quality=95)


def png_16bit(width: int = 64, height: int = 48) -> bytes:
    """A 16-bit grayscale PNG (Pillow mode I;16): a left-to-right ramp from 0 to 65535."""
    ramp = np.tile(np.linspace(0, 65535, width), (height, 1)).astype(np.uint16)
    return encode(Image.fromarray(ramp), "PNG")


def exif_rotated(upright: Image.Image, orientation: int = 6) -> bytes:
    """A JPEG as a phone writes it: pixels stored turned, EXIF orientation says how to
    show them. Orientation 6 is shown after a 90 degree clockwise turn, so the stored
    pixels are ``upright`` turned 90 degrees counter-clockwise."""
    assert orientation == 6
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    return jpeg(upright.transpose(Image.Transpose.ROTATE_90), exif=exif.tobytes())


def palette_png_with_transparency(width: int = 64, height: int = 48) -> bytes:
    """A palette PNG whose right half is the transparent palette entry (a logo, say)."""
    img = Image.new("P", (width, height), 0)
    img.putpalette([*RED, *BLUE] + [0] * (256 * 3 - 6))
    img.paste(1, (0, 0, width // 2, height))  # left half opaque blue
    return encode(img, "PNG", transparency=0)  # right half: entry 0, transparent


def truncated(fmt: str) -> bytes:
    data = make_image_bytes(64, 48, seed=4, fmt=fmt)
    return data[: len(data) // 2]


def text_named_jpg() -> bytes:
    return b"this is not an image\n" * 50


def decompression_bomb() -> bytes:
    return png_bomb()


def corrupt_video(path: Path) -> Path:
    """A Matroska file with a valid container header and codec setup, and garbage
    where the H.264 stream should be: FFmpeg opens it, no frame decodes."""
    from media_app.tests.test_video import write_video

    write_video(path, [(1, 1.0), (2, 1.0), (3, 1.0)], container="matroska")
    data = bytearray(path.read_bytes())
    keep = 600  # EBML header, segment info and track entry with the codec private data
    data[keep:] = np.random.default_rng(1).integers(0, 256, len(data) - keep, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


def mean_colour(data: bytes, box: tuple[int, int, int, int]) -> tuple[int, ...]:
    """Mean RGB of ``box`` (left, top, right, bottom as fractions * 100) of an image."""
    with Image.open(io.BytesIO(data)) as img:
        rgb = np.asarray(img.convert("RGB"), dtype=np.float32)
    h, w = rgb.shape[:2]
    left, top, right, bottom = box
    region = rgb[h * top // 100 : h * bottom // 100, w * left // 100 : w * right // 100]
    return tuple(int(round(v)) for v in region.reshape(-1, 3).mean(axis=0))


def close_to(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 24) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))
