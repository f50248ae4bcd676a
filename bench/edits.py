"""What happens to a picture when it is re-posted: the edits bench/robustness.py
searches with. Each edit takes the picture (RGB), a per-picture random generator and,
for picture-in-picture, an unrelated host picture, and returns the file a person would
upload (JPEG; quality 85 unless the edit is about compression).

Whole-picture edits keep all of the picture's content; the others (``PART_EDITS``) keep a
part of it (crops) or put it inside something else (picture-in-picture, screenshot).
Random choices (which corner, where the inset goes) are drawn per picture from its own
seed, so a rerun makes the same files.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

Edit = Callable[[Image.Image, np.random.Generator, Image.Image], bytes]


def jpeg(img: Image.Image, quality: int = 85) -> bytes:
    out = io.BytesIO()
    img.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def scaled(img: Image.Image, factor: float) -> Image.Image:
    return img.resize((max(1, round(img.width * factor)), max(1, round(img.height * factor))), Image.Resampling.LANCZOS)


def crop_fraction(img: Image.Image, x1: float, y1: float, x2: float, y2: float) -> Image.Image:
    w, h = img.size
    return img.crop((round(x1 * w), round(y1 * h), round(x2 * w), round(y2 * h)))


def font(size: int) -> ImageFont.ImageFont:
    # Pillow's own scalable font: the same glyphs on every machine.
    return ImageFont.load_default(size=size)


# --- whole-picture edits -------------------------------------------------------------------------


def jpeg_q30_half(img, rng, host):
    return jpeg(scaled(img, 0.5), 30)


def jpeg_q10_quarter(img, rng, host):
    return jpeg(scaled(img, 0.25), 10)


def mirror(img, rng, host):
    return jpeg(ImageOps.mirror(img))


def rotate(degrees: float) -> Edit:
    def edit(img, rng, host):
        # Turned in a photo editor: the canvas grows, the corners are black.
        return jpeg(img.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(0, 0, 0)))

    return edit


def perspective(img, rng, host):
    """A photo of the picture taken from below and to the side: the top edge 20%
    shorter than the bottom, one side 8% shorter than the other, on black."""
    w, h = img.size
    # Output corner (x, y) -> source corner: Image.transform wants the inverse map.
    dst = np.array([(0.10 * w, 0.04 * h), (0.90 * w, 0.0), (w, h), (0.0, 0.96 * h)], dtype=np.float64)
    src = np.array([(0, 0), (w, 0), (w, h), (0, h)], dtype=np.float64)
    rows = []
    rhs = []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs.extend([u, v])
    coeffs = np.linalg.solve(np.array(rows), np.array(rhs))
    out = img.transform((w, h), Image.Transform.PERSPECTIVE, tuple(coeffs), resample=Image.Resampling.BICUBIC, fillcolor=(0, 0, 0))
    return jpeg(out)


def brightness(img, rng, host):
    return jpeg(ImageEnhance.Brightness(img).enhance(1.4))


def hue_shift(img, rng, host):
    """Hue turned by 45 degrees (a colour filter)."""
    hsv = np.asarray(img.convert("HSV"), dtype=np.uint8).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int16) + round(45 / 360 * 256)) % 256
    return jpeg(Image.fromarray(hsv, "HSV").convert("RGB"))


def grayscale(img, rng, host):
    return jpeg(ImageOps.grayscale(img).convert("RGB"))


def blur(img, rng, host):
    return jpeg(img.filter(ImageFilter.GaussianBlur(radius=max(1.0, 0.006 * min(img.size)))))


def noise(img, rng, host):
    arr = np.asarray(img, dtype=np.float32) + rng.normal(0, 20, (img.height, img.width, 3)).astype(np.float32)
    return jpeg(Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)))


def letterbox(img, rng, host):
    """Black bars to a square (a landscape picture) or to 16:9 (a portrait one)."""
    w, h = img.size
    cw, ch = (max(w, h), max(w, h)) if w >= h else (round(h * 16 / 9), h)
    canvas = Image.new("RGB", (cw, ch), (0, 0, 0))
    canvas.paste(img, ((cw - w) // 2, (ch - h) // 2))
    return jpeg(canvas)


MEME_LINES = (("WHEN THE BENCH", "FINDS THE COPY ANYWAY"), ("NOBODY:", "ABSOLUTELY NOBODY:"), ("ONE DOES NOT SIMPLY", "RE-POST A PICTURE"))


def meme(img, rng, host):
    """White banners over the top and bottom 16% of the picture with black captions."""
    out = img.copy()
    w, h = out.size
    band = round(0.16 * h)
    draw = ImageDraw.Draw(out)
    top, bottom = MEME_LINES[int(rng.integers(0, len(MEME_LINES)))]
    draw.rectangle([0, 0, w, band], fill=(255, 255, 255))
    draw.rectangle([0, h - band, w, h], fill=(255, 255, 255))
    size = max(8, round(band * 0.5))
    f = font(size)
    for text, y in ((top, band // 2), (bottom, h - band // 2)):
        draw.text((w // 2, y), text, fill=(0, 0, 0), font=f, anchor="mm")
    return jpeg(out)


# --- partial edits -------------------------------------------------------------------------------


def crop_centre(fraction: float) -> Edit:
    def edit(img, rng, host):
        m = (1 - fraction) / 2
        return jpeg(crop_fraction(img, m, m, 1 - m, 1 - m))

    return edit


def crop_corner(img, rng, host):
    """60% of each side at one of the four corners (drawn per picture), 0-4% in from
    its edges."""
    side = 0.6
    corner = int(rng.integers(0, 4))
    ix, iy = rng.uniform(0, 0.04, 2)
    x1 = ix if corner in (0, 2) else 1 - side - ix
    y1 = iy if corner in (0, 1) else 1 - side - iy
    return jpeg(crop_fraction(img, x1, y1, x1 + side, y1 + side))


def mirror_crop(img, rng, host):
    return jpeg(crop_fraction(ImageOps.mirror(img), 0.1, 0.1, 0.9, 0.9))


def picture_in_picture(img, rng, host):
    """The picture at 45% of the host's width, somewhere inside an unrelated picture
    (a news graphic, a collage), with a thin white frame."""
    canvas = host.convert("RGB").copy()
    canvas.thumbnail((1280, 1280), Image.Resampling.LANCZOS)
    cw, ch = canvas.size
    iw = round(0.45 * cw)
    ih = round(img.height * iw / img.width)
    if ih > 0.9 * ch:  # a tall picture in a wide host: fit its height instead
        ih = round(0.9 * ch)
        iw = round(img.width * ih / img.height)
    inset = img.resize((iw, ih), Image.Resampling.LANCZOS)
    x = int(rng.integers(0, max(1, cw - iw)))
    y = int(rng.integers(0, max(1, ch - ih)))
    ImageDraw.Draw(canvas).rectangle([x - 3, y - 3, x + iw + 2, y + ih + 2], fill=(255, 255, 255))
    canvas.paste(inset, (x, y))
    return jpeg(canvas)


CAPTIONS = (
    "Can't believe what we saw today. Sharing before it gets taken down #breaking",
    "Posted this morning, already 2k shares. Does anyone know where this is from?",
    "This is going around again. Original source? Asking for a friend",
)


def screenshot(img, rng, host):
    """A phone screenshot (720x1560) of a social-media post: status bar, app bar, the
    poster's name and avatar, the picture across the full width, likes, a caption, and
    the start of the next post; saved as a phone saves screenshots, then re-encoded."""
    width, height = 720, 1560
    dark = bool(rng.integers(0, 2))
    bg, fg, sub = ((0, 0, 0), (245, 245, 245), (150, 150, 150)) if dark else ((255, 255, 255), (20, 20, 20), (110, 110, 110))
    shot = Image.new("RGB", (width, height), bg)
    draw = ImageDraw.Draw(shot)
    # Status bar: time, signal bars, battery.
    draw.text((28, 22), f"{int(rng.integers(7, 23))}:{int(rng.integers(0, 60)):02d}", fill=fg, font=font(26))
    for i in range(4):
        draw.rectangle([560 + i * 12, 40 - i * 6, 568 + i * 12, 46], fill=fg)
    draw.rounded_rectangle([630, 24, 684, 46], radius=5, outline=fg, width=2)
    draw.rectangle([634, 28, 634 + int(rng.integers(10, 46)), 42], fill=fg)
    # App bar.
    draw.text((28, 92), "Feed", fill=fg, font=font(40))
    draw.line([0, 160, width, 160], fill=sub, width=1)
    # Post header: avatar and name.
    y = 182
    avatar = tuple(int(c) for c in rng.integers(40, 220, 3))
    draw.ellipse([24, y, 96, y + 72], fill=avatar)
    draw.text((114, y + 8), f"user_{int(rng.integers(1000, 99999))}", fill=fg, font=font(28))
    draw.text((114, y + 44), f"{int(rng.integers(1, 23))}h", fill=sub, font=font(22))
    draw.text((660, y + 20), "...", fill=fg, font=font(30))
    # The picture, full width (a very tall one is cut at 4:5, as feeds do).
    y += 96
    ph = round(img.height * width / img.width)
    picture = img.resize((width, ph), Image.Resampling.LANCZOS)
    if ph > width * 5 // 4:
        top = (ph - width * 5 // 4) // 2
        picture = picture.crop((0, top, width, top + width * 5 // 4))
        ph = picture.height
    shot.paste(picture, (0, y))
    y += ph + 18
    # Actions, likes, caption, comments.
    for i in range(3):
        draw.ellipse([28 + i * 70, y, 72 + i * 70, y + 44], outline=fg, width=3)
    y += 64
    draw.text((28, y), f"{int(rng.integers(100, 99999)):,} likes", fill=fg, font=font(26))
    y += 44
    caption = CAPTIONS[int(rng.integers(0, len(CAPTIONS)))]
    for line in (caption[:44], caption[44:]):
        draw.text((28, y), line, fill=fg, font=font(26))
        y += 38
    draw.text((28, y + 6), f"View all {int(rng.integers(10, 900))} comments", fill=sub, font=font(24))
    y += 60
    if y + 100 < height:
        draw.line([0, y, width, y], fill=sub, width=1)
        draw.ellipse([24, y + 20, 96, y + 92], fill=tuple(int(c) for c in rng.integers(40, 220, 3)))
        draw.text((114, y + 28), "another_account", fill=fg, font=font(28))
    # Navigation bar.
    draw.rectangle([0, height - 96, width, height], fill=bg)
    for i in range(5):
        draw.rectangle([60 + i * 140, height - 66, 96 + i * 140, height - 30], outline=fg, width=3)
    return jpeg(shot, 90)


WHOLE_EDITS: dict[str, Edit] = {
    "jpeg q30 half size": jpeg_q30_half,
    "jpeg q10 quarter size": jpeg_q10_quarter,
    "crop 80%": crop_centre(0.8),
    "mirror": mirror,
    "mirror + crop 80%": mirror_crop,
    "rotate 10°": rotate(10),
    "rotate 30°": rotate(30),
    "perspective": perspective,
    "brightness +40%": brightness,
    "hue shift 45°": hue_shift,
    "grayscale": grayscale,
    "blur": blur,
    "noise": noise,
    "letterbox": letterbox,
    "meme banners": meme,
}
PART_EDITS: dict[str, Edit] = {
    "crop 50%": crop_centre(0.5),
    "corner crop 60%": crop_corner,
    "picture in picture 45%": picture_in_picture,
    "phone screenshot": screenshot,
}
EDITS: dict[str, Edit] = {**WHOLE_EDITS, **PART_EDITS}


def make_edit(name: str, img: Image.Image, *, seed: int, host: Image.Image | None = None) -> bytes:
    """The edited file of ``img`` (RGB) for edit ``name``; ``host`` for picture-in-picture."""
    rng = np.random.default_rng([seed, list(EDITS).index(name)])
    return EDITS[name](img.convert("RGB"), rng, host if host is not None else img)
