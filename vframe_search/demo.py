"""A small demo collection made on the spot, so the server is useful with no network.

Scenes are drawn with Pillow (skies, fields, shapes, text-like stripes), and some
scenes get "copies" as people meet them in the wild: re-encoded, resized, cropped,
recoloured. Searching with a copy should find its original at the top.
"""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter


def draw_scene(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    rng = random.Random(seed)
    w, h = size
    sky = tuple(rng.randint(60, 220) for _ in range(3))
    ground = tuple(rng.randint(20, 160) for _ in range(3))
    img = Image.new("RGB", size, sky)
    draw = ImageDraw.Draw(img)
    horizon = rng.randint(h // 3, 2 * h // 3)
    draw.rectangle([0, horizon, w, h], fill=ground)
    for _ in range(rng.randint(4, 12)):
        kind = rng.choice(["ellipse", "rectangle", "polygon", "line"])
        color = tuple(rng.randint(0, 255) for _ in range(3))
        x0, y0 = rng.randint(0, w - 20), rng.randint(0, h - 20)
        x1, y1 = min(w, x0 + rng.randint(20, w // 2)), min(h, y0 + rng.randint(20, h // 2))
        if kind == "ellipse":
            draw.ellipse([x0, y0, x1, y1], fill=color)
        elif kind == "rectangle":
            draw.rectangle([x0, y0, x1, y1], fill=color, outline=(0, 0, 0))
        elif kind == "polygon":
            draw.polygon([(x0, y1), ((x0 + x1) // 2, y0), (x1, y1)], fill=color)
        else:
            draw.line([x0, y0, x1, y1], fill=color, width=rng.randint(2, 12))
    return img.filter(ImageFilter.GaussianBlur(0.6))


def make_copy(img: Image.Image, kind: str) -> Image.Image:
    w, h = img.size
    if kind == "resized":
        return img.resize((w // 2, h // 2), Image.Resampling.BILINEAR)
    if kind == "cropped":
        return img.crop((w // 10, h // 10, w - w // 10, h - h // 10))
    if kind == "recoloured":
        return ImageEnhance.Color(ImageEnhance.Brightness(img).enhance(1.2)).enhance(0.6)
    return img  # re-encoded: same pixels, different JPEG quality


def write_demo_set(folder: Path, scenes: int = 40, copies_every: int = 4) -> list[Path]:
    """Write ``scenes`` JPEG/PNG scenes and copies of every ``copies_every``-th one."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for i in range(scenes):
        img = draw_scene(1000 + i)
        path = folder / f"scene_{i:03d}.{'png' if i % 5 == 0 else 'jpg'}"
        img.save(path, quality=92)
        written.append(path)
        if i % copies_every == 0:
            copies = folder / "copies"
            copies.mkdir(exist_ok=True)
            for kind in ("reencoded", "resized", "cropped", "recoloured"):
                cp = copies / f"scene_{i:03d}_{kind}.jpg"
                make_copy(img, kind).save(cp, quality=60 if kind == "reencoded" else 85)
                written.append(cp)
    return written


def write_demo_video(path: Path, scenes: int = 4, seconds_per_scene: float = 2.0, fps: int = 10) -> Path:
    """A short MP4 with a few distinct scenes (PyAV), so frame extraction shows up."""
    import av
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = 320, 240
        stream.pix_fmt = "yuv420p"
        for s in range(scenes):
            base = draw_scene(5000 + s, (320, 240))
            for f in range(int(seconds_per_scene * fps)):
                shifted = Image.fromarray(np.roll(np.asarray(base), f * 2, axis=1))
                for packet in stream.encode(av.VideoFrame.from_image(shifted)):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
