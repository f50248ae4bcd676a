"""Pictures with text for the text app's tests: words rendered with Debian's fonts
(fonts-dejavu-core, fonts-wqy-microhei; .ci/run installs them)."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
WQY = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")


def text_picture(
    lines: list[str], *, size: tuple[int, int] = (640, 360), font: Path = DEJAVU, px: int = 36, fmt: str = "PNG", background=(228, 222, 205)
) -> bytes:
    """Dark words, one line each, on a light textured background."""
    img = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(img)
    for x in range(0, size[0], 24):
        draw.line([(x, 0), (x + 40, size[1])], fill=tuple(max(0, c - 14) for c in background), width=3)
    face = ImageFont.truetype(str(font), px)
    y = 30
    for line in lines:
        draw.text((30, y), line, fill=(20, 20, 24), font=face)
        y += int(px * 1.8)
    out = io.BytesIO()
    img.save(out, format=fmt)
    return out.getvalue()


def store_picture(data: bytes, name: str = "picture.png"):
    from media_app.services import media_create_image

    media, _ = media_create_image(stream=io.BytesIO(data), original_name=name)
    return media


def text_video(path: Path, scenes: list[list[str]], *, seconds: float = 2.0, fps: int = 5, size: tuple[int, int] = (480, 270)) -> Path:
    """An H.264 video of ``scenes``, each a picture of its lines held ``seconds``."""
    import av
    import numpy as np

    with av.open(str(path), "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        n = 0
        for n_scene, lines in enumerate(scenes):
            # Each scene on its own background: a cut the keyframe detector sees.
            background = ((228, 222, 205), (150, 200, 240), (240, 170, 150))[n_scene % 3]
            array = np.asarray(Image.open(io.BytesIO(text_picture(lines, size=size, px=30, background=background))).convert("RGB"))
            for _ in range(round(seconds * fps)):
                frame = av.VideoFrame.from_ndarray(array, format="rgb24")
                frame.pts = n
                n += 1
                for packet in stream.encode(frame):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path
