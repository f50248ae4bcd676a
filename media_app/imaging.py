"""Decoding, validating and thumbnailing images: the one place that opens image bytes.

Images are validated by decoding with Pillow, never by extension: the format must be
one we accept, the pixel count must be under the limit (decompression bombs), and the
whole image must decode (truncated files are rejected). Originals are stored byte for
byte (evidence integrity); orientation from EXIF is applied to thumbnails, reported
dimensions and embeddings, so everything a person sees is upright.
"""

from __future__ import annotations

import hashlib
import io
import math
import warnings
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings
from PIL import Image, UnidentifiedImageError

from core.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from core.images import to_rgb

ACCEPTED_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tif", "MPO": "jpg"}
_CHUNK = 1024 * 1024
# Leading bytes of the accepted formats: a file that starts like an image but does not
# open is a broken image (400), not "not an image" (415).
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"II*\x00", b"MM\x00*")


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    extension: str


def hash_stream(stream: BinaryIO) -> tuple[str, int]:
    """sha256 hex digest and byte size of a stream, read in chunks; rewinds it."""
    stream.seek(0)
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    stream.seek(0)
    return digest.hexdigest(), size


def _check_pixels(width: int, height: int) -> None:
    limit = settings.MAX_IMAGE_PIXELS
    if width * height > limit:
        raise PayloadTooLarge(
            f"Image is {width}x{height} = {width * height} pixels, above the limit of {limit} pixels.",
            code="too_many_pixels",
        )


class CallerOwnedStream:
    """The caller's stream, lent to Pillow with close() disarmed.

    ``Image.close()`` closes the file an image was read from whenever Pillow still holds
    it (PNG, GIF and TIFF keep it for later frames), but the caller still has to store
    those very bytes after validating them.
    """

    def __init__(self, stream: BinaryIO):
        self._stream = stream

    def read(self, *args):
        return self._stream.read(*args)

    def readline(self, *args):
        return self._stream.readline(*args)

    def seek(self, *args):
        return self._stream.seek(*args)

    def tell(self):
        return self._stream.tell()

    def close(self) -> None:
        pass

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _looks_like_image(head: bytes) -> bool:
    if head.startswith(_SIGNATURES):
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return True
    # "BM" alone is too weak (text can start with it); the reserved header words are 0.
    return head[:2] == b"BM" and len(head) >= 14 and head[6:10] == b"\x00\x00\x00\x00"


def _open_checked(stream: BinaryIO) -> Image.Image:
    """Open the header and check format and pixel count; nothing decoded yet."""
    stream.seek(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            # Pillow's own bomb guard runs at twice our limit; we check ours explicitly.
            img = Image.open(CallerOwnedStream(stream))
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            stream.seek(0)
            if _looks_like_image(stream.read(16)):
                raise InvalidInput("Image could not be decoded (truncated or corrupt header).", code="corrupt_image") from None
            raise UnsupportedMediaType(
                "File is not an image in an accepted format (JPEG, PNG, WebP, GIF, BMP, TIFF).",
                code="not_an_image",
            ) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise PayloadTooLarge(f"Image is too large to decode safely: {exc}", code="too_many_pixels") from None
    if img.format not in ACCEPTED_FORMATS:
        raise UnsupportedMediaType(
            f"Image format {img.format} is not accepted (JPEG, PNG, WebP, GIF, BMP, TIFF).",
            code="unsupported_format",
        )
    _check_pixels(*img.size)
    return img


def _load_checked(img: Image.Image) -> None:
    """Decode the whole image; a truncated or corrupt one is a DomainError."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img.load()
        except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise InvalidInput(f"Image could not be decoded (truncated or corrupt): {exc}", code="corrupt_image") from None


def open_image(stream: BinaryIO) -> Image.Image:
    """Open and fully validate an image; raises a DomainError describing what is wrong."""
    img = _open_checked(stream)
    _load_checked(img)
    return img


def open_image_reduced(stream: BinaryIO, *, min_side: int = 0, min_long: int = 0) -> tuple[Image.Image, ImageInfo]:
    """Validate like :func:`open_image`, decoding a JPEG only as large as needed.

    A JPEG is decoded at the smallest DCT scale (1/2, 1/4 or 1/8: Pillow's draft mode)
    whose shorter side is still at least ``min_side`` and longer side at least
    ``min_long`` pixels (say the model's resize and the thumbnail size). The check is as
    strict as a full decode: libjpeg entropy-decodes the whole stream at any scale, so
    a truncated or corrupt file still fails; only the inverse DCT, upsampling and colour
    conversion run on fewer pixels (a 12 MP photo costs ~1/3 of a full decode). Other
    formats are decoded fully. Returns the image and the :class:`ImageInfo` of the
    full-size original (its dimensions, not the reduced ones).
    """
    img = _open_checked(stream)
    info = image_info(img)
    if img.format in ("JPEG", "MPO") and (min_side or min_long):
        w, h = img.size
        factor = max(min_side / min(w, h), min_long / max(w, h))
        if factor < 0.5:  # else no DCT scale fits: decode at full size
            img.draft(img.mode, (max(1, math.ceil(w * factor)), max(1, math.ceil(h * factor))))
    _load_checked(img)
    return img, info


def file_picture_hash(stream: BinaryIO) -> int | None:
    """The whole picture's packed perceptual hash (``modelzoo.phash.picture_hash``) of a
    stored picture, decoded at the smallest JPEG scale that serves: the hash sees 32 x 32
    pixels. None for a plain picture."""
    from modelzoo.phash import picture_hash

    with Image.open(stream) as img:
        if img.format == "JPEG" and min(img.size) > 256:
            img.draft(img.mode, (128, 128))
        return picture_hash(img)


def image_info(img: Image.Image) -> ImageInfo:
    """Format and upright dimensions (after EXIF orientation)."""
    width, height = img.size
    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:  # a broken EXIF block must not reject an image that decodes
        orientation = 1
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    fmt = img.format or "PNG"
    return ImageInfo(format=fmt, width=width, height=height, extension=ACCEPTED_FORMATS.get(fmt, "bin"))


def make_thumbnail(img: Image.Image, size: int | None = None) -> bytes:
    """JPEG thumbnail bytes whose longer side is at most ``size`` pixels."""
    size = size or settings.THUMBNAIL_SIZE
    thumb = to_rgb(img.copy() if img.mode != "RGB" else img)
    thumb = thumb.copy()
    thumb.thumbnail((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    thumb.save(out, format="JPEG", quality=85, optimize=True)
    return out.getvalue()


def sharded_name(prefix: str, sha256: str, extension: str) -> str:
    """Storage name sharded by hash: ``prefix/ab/cd/abcd....ext``."""
    return f"{prefix}/{sha256[:2]}/{sha256[2:4]}/{sha256}.{extension}"
