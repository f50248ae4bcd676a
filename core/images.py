"""Image helpers shared by the model runtimes and the media app (no Django, no I/O)."""

from __future__ import annotations

from PIL import Image, ImageOps


def to_rgb(img: Image.Image) -> Image.Image:
    """Upright RGB copy of any decoded image: EXIF transpose, CMYK, 16-bit, palette,
    alpha flattened on white."""
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:
        pass
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        img = img.point(lambda v: v * (1 / 256)).convert("L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if img.mode != "RGB":
        img = img.convert("RGB")
    return img
