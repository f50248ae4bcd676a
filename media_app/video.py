"""Probing videos and picking their keyframes with PyAV (FFmpeg): the one place that
decodes video.

A video is accepted by probing its container with FFmpeg, never by extension. Its
keyframes are chosen by content, not by the codec's GOP structure. Every sampled frame
(at most ``analysis_fps`` per second) is shrunk to a small grayscale picture; the
difference of two pictures is their mean absolute pixel difference (0..1).

- A *cut* is a jump between consecutive samples: a difference of at least
  ``scene_threshold`` that also stands out, at least twice the largest difference of
  the last two seconds, or comes with a large change of the gray-level histogram.
  Camera motion (handheld footage, pans) changes every sample by a similar amount and
  is not a cut, so a shaky two-hour video does not become thousands of "scenes".
- A cut keeps the frame; a cut within ``min_interval`` seconds of the previous keep
  (flashes, strobes) is held back until the interval has passed and then kept only if
  the picture still differs from the last kept one, so a scene lasting longer than
  ``min_interval`` is never lost.
- After ``max_interval`` seconds without a keep, the frame is kept anyway unless it is
  near-identical to the last kept one (difference under ``min_change``): moving footage
  is covered at least every ``max_interval`` seconds, while a static camera yields one
  frame, not one per interval.

Kept frames are written as JPEG (with a thumbnail) into a scratch folder; the caller
stores them and creates the rows in one transaction.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import av
import numpy as np
from django.conf import settings
from PIL import Image

from core.errors import InvalidInput, UnsupportedMediaType

from .imaging import make_thumbnail

# FFmpeg demuxer name -> how we tell the accepted containers apart.
_MOV_DEMUXER = "mov,mp4,m4a,3gp,3g2,mj2"
_MATROSKA_DEMUXER = "matroska,webm"
# Containers named by their demuxer alone. Beyond the required AVI: MPEG-TS, MPEG-PS,
# FLV and ASF/WMV, common in CCTV exports, broadcast captures and older phone footage.
_SIMPLE_DEMUXERS = {"avi": "avi", "mpegts": "ts", "mpeg": "mpg", "flv": "flv", "asf": "wmv"}
ACCEPTED_DEMUXERS = {_MOV_DEMUXER, _MATROSKA_DEMUXER, *_SIMPLE_DEMUXERS}
VIDEO_EXTENSIONS = {"mp4": "mp4", "mov": "mov", "mkv": "mkv", "webm": "webm", "avi": "avi", "ts": "ts", "mpg": "mpg", "flv": "flv", "wmv": "wmv"}
# FFmpeg also "opens" still images and text, partly by file extension (a text file
# named .jpg is an image2 input to it): those are never videos, and whether they are a
# damaged image or not media at all is for the image validator to say.
_NOT_VIDEO_SUFFIXES = ("_pipe",)
_NOT_VIDEO_DEMUXERS = {"image2", "gif", "webp", "apng", "bmp", "tiff", "tty"}

# The scene metric compares frames shrunk to this width (height follows the aspect):
# small enough to be cheap and to average away sensor noise and compression grain.
_METRIC_WIDTH = 64
_JPEG_QUALITY = 90


class Interrupted(Exception):
    """Extraction was asked to stop (Ctrl-C / SIGTERM) before it finished."""


@dataclass(frozen=True)
class VideoInfo:
    """What probing a video told us; width/height are upright (display rotation applied)."""

    format: str
    extension: str
    width: int
    height: int
    duration: float | None
    fps: float | None
    codec: str
    pix_fmt: str = ""
    audio_codec: str = ""  # "" when it has no audio


@dataclass(frozen=True)
class KeyframeOptions:
    """Tuning of keyframe selection; defaults come from settings (VFRAME_VIDEO_*)."""

    scene_threshold: float
    max_interval: float
    min_interval: float
    min_change: float
    analysis_fps: float
    keyframes_only: bool = False

    @classmethod
    def from_settings(cls, **overrides) -> KeyframeOptions:
        base = cls(
            scene_threshold=settings.VIDEO_SCENE_THRESHOLD,
            max_interval=settings.VIDEO_MAX_INTERVAL,
            min_interval=settings.VIDEO_MIN_INTERVAL,
            min_change=settings.VIDEO_MIN_CHANGE,
            analysis_fps=settings.VIDEO_ANALYSIS_FPS,
            keyframes_only=settings.VIDEO_KEYFRAMES_ONLY,
        )
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})


@dataclass(frozen=True)
class Keyframe:
    """One kept frame, encoded as JPEG in the scratch folder."""

    frame_number: int
    timestamp: float
    width: int
    height: int
    sha256: str
    byte_size: int
    path: Path
    thumb_path: Path
    reason: str  # "first", "scene" or "interval"
    score: float


class KeyframeSelector:
    """The keep/drop decision, separate from decoding so it can be reasoned about and
    tested on plain arrays."""

    # A cut stands out this much above the largest step of the last two seconds (the
    # largest, not the average: handheld motion is jerky), or moves this much of the
    # gray-level histogram (total variation, 0..1): a pan keeps its histogram, a cut to
    # another place rarely does.
    SPIKE_RATIO = 2.0
    HISTOGRAM_CUT = 0.25

    def __init__(self, options: KeyframeOptions):
        self.options = options
        self.previous: np.ndarray | None = None
        self.last_kept: np.ndarray | None = None
        self.last_kept_t = -math.inf
        self.recent: deque[float] = deque(maxlen=max(2, round(2 * options.analysis_fps)))
        self.pending_cut = False

    def consider(self, t: float, small: np.ndarray) -> tuple[str | None, float]:
        """Return ``(reason, score)``; reason is None when the frame is dropped."""
        opts = self.options
        previous, self.previous = self.previous, small
        if self.last_kept is None:
            return self._keep(t, small, "first", 1.0)
        if small.shape != previous.shape or small.shape != self.last_kept.shape:  # resolution changed
            return self._keep(t, small, "scene", 1.0)
        step = _difference(small, previous)
        motion = max(self.recent) if self.recent else math.inf
        self.recent.append(step)
        if step >= opts.scene_threshold and (step >= self.SPIKE_RATIO * motion or _histogram_change(small, previous) >= self.HISTOGRAM_CUT):
            self.pending_cut = True
        if t - self.last_kept_t < opts.min_interval:
            return None, step
        drift = _difference(small, self.last_kept)
        if self.pending_cut:
            self.pending_cut = False
            if drift >= opts.scene_threshold:
                return self._keep(t, small, "scene", step)
        if t - self.last_kept_t >= opts.max_interval and drift >= opts.min_change:
            return self._keep(t, small, "interval", drift)
        return None, step

    def _keep(self, t: float, small: np.ndarray, reason: str, score: float) -> tuple[str, float]:
        self.last_kept = small
        self.last_kept_t = t
        self.pending_cut = False
        return reason, score


def _difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean()) / 255.0


def _histogram_change(a: np.ndarray, b: np.ndarray) -> float:
    ha = np.bincount((a >> 3).ravel(), minlength=32)
    hb = np.bincount((b >> 3).ravel(), minlength=32)
    return float(np.abs(ha / a.size - hb / b.size).sum()) / 2


def _container_format(container, path: Path) -> str:
    name = container.format.name
    if name == _MOV_DEMUXER:
        brand = (container.metadata.get("major_brand") or "").strip().lower()
        return "mov" if brand == "qt" else "mp4"
    if name == _MATROSKA_DEMUXER:
        # FFmpeg does not say which; the EBML header's DocType does ("webm"/"matroska").
        with open(path, "rb") as fh:
            head = fh.read(64)
        i = head.find(b"\x42\x82")
        if i >= 0 and i + 3 < len(head) and head[i + 2] & 0x80:
            n = head[i + 2] & 0x7F
            if head[i + 3 : i + 3 + n] == b"webm":
                return "webm"
        return "mkv"
    return _SIMPLE_DEMUXERS[name]


def _open(path: Path):
    try:
        return av.open(str(path), mode="r", metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise UnsupportedMediaType(f"File is not an image or a video FFmpeg can read: {exc}", code="not_media") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise UnsupportedMediaType(f"File is not an image or a video FFmpeg can read: {exc}", code="not_media") from None


def _video_stream(container):
    streams = [s for s in container.streams.video if s.codec_context is not None and (s.codec_context.width or 0) > 0]
    if not streams:
        raise UnsupportedMediaType("Container has no video stream (audio only?).", code="no_video_stream")
    # Cover art is stored as a one-frame "video" stream; prefer a real one.
    real = [s for s in streams if not (s.disposition & av.stream.Disposition.attached_pic)]
    return (real or streams)[0]


def _fps(stream) -> float | None:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    try:
        value = float(rate) if rate else None
    except (ZeroDivisionError, TypeError):
        value = None
    return value if value and value > 0 else None


def _info(container, stream, path: Path, rotation: int = 0) -> VideoInfo:
    fmt = _container_format(container, path)
    width, height = stream.codec_context.width, stream.codec_context.height
    if rotation % 180 == 90:
        width, height = height, width
    duration = None
    if container.duration is not None and container.duration > 0:
        duration = container.duration / av.time_base
    elif stream.duration and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    audio = next((a for a in container.streams.audio if a.codec_context is not None), None)
    return VideoInfo(
        format=fmt,
        extension=VIDEO_EXTENSIONS[fmt],
        width=width,
        height=height,
        duration=duration,
        fps=_fps(stream),
        codec=stream.codec_context.name,
        pix_fmt=stream.codec_context.pix_fmt or "",
        audio_codec=audio.codec_context.name if audio is not None else "",
    )


def probe_video(path: Path) -> VideoInfo:
    """Identify an accepted video (MP4, MOV, MKV, WebM, AVI) by probing its container.

    Raises UnsupportedMediaType (not media, other container, no video stream). Only
    the container header is read; use :func:`extract_keyframes` to decode.
    """
    with _open(path) as container:
        _check_container(container)
        return _info(container, _video_stream(container), path)


def _check_container(container) -> None:
    name = container.format.name
    if name in ACCEPTED_DEMUXERS:
        return
    if name in _NOT_VIDEO_DEMUXERS or name.endswith(_NOT_VIDEO_SUFFIXES):
        raise UnsupportedMediaType("File is not a video.", code="not_media")
    raise UnsupportedMediaType(f"Container {name!r} is not an accepted video (MP4, MOV, MKV, WebM, AVI, MPEG-TS/PS, FLV, WMV).", code="unsupported_format")


def _upright(img: Image.Image, rotation: int) -> Image.Image:
    """Apply the display matrix (phones store portrait video as rotated landscape)."""
    turn = round(rotation / 90) % 4  # counter-clockwise quarter turns
    if turn == 1:
        return img.transpose(Image.Transpose.ROTATE_90)
    if turn == 2:
        return img.transpose(Image.Transpose.ROTATE_180)
    if turn == 3:
        return img.transpose(Image.Transpose.ROTATE_270)
    return img


def _encode_frame(img: Image.Image, *, video_sha256: str, frame_number: int, timestamp: float) -> bytes:
    # The comment names the video and position inside the JPEG itself. That makes the
    # bytes (and so the frame's sha256) unique per (video, frame): two videos sharing a
    # visually identical frame (a black frame, a logo card), or one static video kept
    # at two times, never collide on Media.sha256, so no frame is lost or attached to
    # the wrong video; and the stored file still hashes to its row's sha256 and
    # carries its provenance wherever it is exported.
    out = io.BytesIO()
    comment = f"vframe video_sha256={video_sha256} frame={frame_number} t={timestamp:.6f}"
    img.save(out, format="JPEG", quality=_JPEG_QUALITY, comment=comment.encode())
    return out.getvalue()


def extract_keyframes(
    path: Path,
    *,
    video_sha256: str,
    out_dir: Path,
    options: KeyframeOptions | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[VideoInfo, list[Keyframe], str]:
    """Decode a video once and write its keyframes (JPEG + thumbnail) into ``out_dir``.

    Returns ``(info, keyframes, warning)``; ``warning`` is non-empty when decoding
    stopped early on damaged data after at least one frame was kept (the readable part
    of a partial recording is still worth searching). Raises InvalidInput when no frame
    decodes at all, :class:`Interrupted` when ``should_stop()`` turns true.

    Cost: frames between samples are decoded (later frames depend on them) but never
    converted; for intra-only codecs (MJPEG, ProRes...) packets between samples are not
    even decoded, and ``keyframes_only`` makes FFmpeg decode only the codec's keyframes
    (much faster on long footage, but a cut is then seen at the next keyframe only).
    """
    opts = options or KeyframeOptions.from_settings()
    out_dir.mkdir(parents=True, exist_ok=True)
    with _open(path) as container:
        _check_container(container)
        stream = _video_stream(container)
        ctx = stream.codec_context
        ctx.thread_type = "AUTO"
        if opts.keyframes_only:
            ctx.skip_frame = "NONKEY"
        intra_only = bool(ctx.codec.intra_only)
        time_base = stream.time_base
        start = float(stream.start_time * time_base) if stream.start_time is not None and time_base else 0.0
        fps = _fps(stream)
        sample_step = 1.0 / opts.analysis_fps if opts.analysis_fps > 0 else 0.0
        selector = KeyframeSelector(opts)
        kept: list[Keyframe] = []
        next_sample = -math.inf
        rotation = None
        last_number = -1
        decoded = 0
        last_packet_t = 0.0
        warning = ""

        def seconds(pts) -> float | None:
            if pts is None or not time_base:
                return None
            return float(pts * time_base) - start

        try:
            for packet in container.demux(stream):
                if should_stop is not None and should_stop():
                    raise Interrupted()
                if packet.pts is not None and packet.size:
                    last_packet_t = max(last_packet_t, seconds(packet.pts + (packet.duration or 0)) or 0.0)
                if intra_only and packet.pts is not None and packet.size:
                    pt = seconds(packet.pts)
                    if pt is not None and pt < next_sample:
                        continue  # every intra-only frame stands alone: skip it undecoded
                for frame in packet.decode():
                    decoded += 1
                    t = seconds(frame.pts)
                    if t is None:
                        t = (decoded - 1) / fps if fps else float(decoded - 1)
                    t = max(0.0, t)
                    if t < next_sample:
                        continue
                    # Sample on a fixed grid, not "t + step": the first frame after a
                    # cut is then at most one step late, whatever the frame rate.
                    next_sample = (math.floor(t / sample_step) + 1) * sample_step if sample_step else -math.inf
                    if rotation is None:
                        rotation = int(getattr(frame, "rotation", 0) or 0)
                    h = max(8, round(_METRIC_WIDTH * frame.height / max(1, frame.width)))
                    small = frame.reformat(width=_METRIC_WIDTH, height=h, format="gray", interpolation="AREA").to_ndarray()
                    reason, score = selector.consider(t, small)
                    if reason is None:
                        continue
                    number = round(t * fps) if fps else decoded - 1
                    number = max(number, last_number + 1)  # unique and increasing per video
                    last_number = number
                    kept.append(
                        _write_keyframe(frame, rotation, out_dir, video_sha256=video_sha256, frame_number=number, timestamp=t, reason=reason, score=score)
                    )
        except av.FFmpegError as exc:
            if not kept:
                raise InvalidInput(f"Video could not be decoded (truncated or corrupt): {exc}", code="corrupt_video") from None
            warning = f"decoding stopped early at {kept[-1].timestamp:.1f}s on damaged data: {exc}"
        if not kept:
            raise InvalidInput("Video has no decodable frame (truncated or corrupt).", code="corrupt_video")
        info = _info(container, stream, path, rotation or 0)
        if info.duration is None:
            info = replace(info, duration=max(last_packet_t, kept[-1].timestamp))
        else:
            # FFmpeg reads a cut-off file to its end without complaint; the header still
            # declares the full length (the video stream's own, where the container
            # has one: an audio track may legitimately run longer).
            declared = float(stream.duration * time_base) if stream.duration and time_base else info.duration
            if not warning and last_packet_t < declared - max(1.0, 0.05 * declared):
                warning = f"video data ends at {last_packet_t:.1f}s of {declared:.1f}s declared (truncated?)"
    return info, kept, warning


def _write_keyframe(frame, rotation: int, out_dir: Path, *, video_sha256: str, frame_number: int, timestamp: float, reason: str, score: float) -> Keyframe:
    img = _upright(frame.to_image(), rotation)
    data = _encode_frame(img, video_sha256=video_sha256, frame_number=frame_number, timestamp=timestamp)
    thumb = make_thumbnail(img)
    path = out_dir / f"{frame_number:09d}.jpg"
    thumb_path = out_dir / f"{frame_number:09d}.thumb.jpg"
    path.write_bytes(data)
    thumb_path.write_bytes(thumb)
    return Keyframe(
        frame_number=frame_number,
        timestamp=round(timestamp, 6),
        width=img.width,
        height=img.height,
        sha256=hashlib.sha256(data).hexdigest(),
        byte_size=len(data),
        path=path,
        thumb_path=thumb_path,
        reason=reason,
        score=round(score, 4),
    )


# --- a copy browsers play ----------------------------------------------------------------------
# What every current browser plays in a <video> element: H.264 (8-bit 4:2:0) with AAC or
# MP3 in MP4, or VP8/VP9/AV1 with Opus or Vorbis in WebM. Anything else (MPEG-4 Part 2,
# HEVC, ProRes, MJPEG in AVI, PCM audio...) shows a poster and a play button that does
# nothing, so the ingest stores an H.264/AAC MP4 copy beside the original, which stays
# the evidence.
_PLAYABLE = {
    "mp4": ({"h264"}, {"aac", "mp3", ""}),
    "mov": ({"h264"}, {"aac", "mp3", ""}),
    "webm": ({"vp8", "vp9", "av1"}, {"opus", "vorbis", ""}),
}
_PLAYABLE_PIX_FMTS = {"yuv420p", "yuvj420p", ""}
_PLAYABLE_CRF = "23"  # x264's default quality: visually close, a fraction of the size


def browser_playable(info: VideoInfo) -> bool:
    """Whether browsers play the original as it is."""
    video_codecs, audio_codecs = _PLAYABLE.get(info.format, (set(), set()))
    return info.codec in video_codecs and info.audio_codec in audio_codecs and (info.format == "webm" or info.pix_fmt in _PLAYABLE_PIX_FMTS)


def transcode_playable(path: Path, out: Path, *, should_stop: Callable[[], bool] | None = None) -> Path:
    """Write an H.264/AAC MP4 of the video at ``path`` to ``out`` (upright, even-sized,
    the moov atom first so a browser starts playing before the end has arrived).

    Raises InvalidInput when the video cannot be decoded, :class:`Interrupted` when
    ``should_stop()`` turns true. Damaged data after the first frame ends the copy there.
    """
    from fractions import Fraction

    rotation = _rotation(path)
    with _open(path) as src:
        _check_container(src)
        vin = _video_stream(src)
        ain = next((a for a in src.streams.audio if a.codec_context is not None and a.codec_context.sample_rate), None)
        vin.codec_context.thread_type = "AUTO"
        rate = vin.average_rate or vin.guessed_rate or Fraction(25)
        written = 0
        with av.open(str(out), mode="w", format="mp4", options={"movflags": "+faststart"}) as dst:
            # Every stream exists before the first packet is written (the header).
            width, height = vin.codec_context.width, vin.codec_context.height
            if round(rotation / 90) % 2 == 1:
                width, height = height, width
            vout = dst.add_stream("libx264", rate=rate)
            vout.width, vout.height = width - width % 2, height - height % 2
            vout.pix_fmt = "yuv420p"
            vout.options = {"crf": _PLAYABLE_CRF, "preset": "veryfast"}
            aout = dst.add_stream("aac", rate=48000, layout="stereo") if ain is not None else None
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=48000) if aout is not None else None
            try:
                for packet in src.demux(*(s for s in (vin, ain) if s is not None)):
                    if should_stop is not None and should_stop():
                        raise Interrupted()
                    for frame in packet.decode():
                        if packet.stream is vin:
                            if rotation % 360:
                                upright = av.VideoFrame.from_image(_upright(frame.to_image(), rotation))
                                upright.pts, upright.time_base = frame.pts, frame.time_base
                                frame = upright
                            frame = _reformat_keeping_time(frame, vout.width, vout.height)
                            for out_packet in vout.encode(frame):
                                dst.mux(out_packet)
                            written += 1
                        elif resampler is not None:
                            for chunk in resampler.resample(frame):
                                for out_packet in aout.encode(chunk):
                                    dst.mux(out_packet)
            except av.FFmpegError as exc:
                if not written:
                    raise InvalidInput(f"Video could not be decoded (truncated or corrupt): {exc}", code="corrupt_video") from None
            if not written:
                raise InvalidInput("Video has no decodable frame (truncated or corrupt).", code="corrupt_video")
            for out_packet in vout.encode():
                dst.mux(out_packet)
            if aout is not None:
                for chunk in resampler.resample(None):
                    for out_packet in aout.encode(chunk):
                        dst.mux(out_packet)
                for out_packet in aout.encode():
                    dst.mux(out_packet)
    return out


def _rotation(path: Path) -> int:
    """The display rotation of the video's first frame (phones store portrait video as
    rotated landscape), in degrees; 0 when none decodes."""
    with _open(path) as container:
        stream = _video_stream(container)
        try:
            for frame in container.decode(stream):
                return int(getattr(frame, "rotation", 0) or 0)
        except av.FFmpegError:
            pass
    return 0


def _reformat_keeping_time(frame, width: int, height: int):
    converted = frame.reformat(width=width, height=height, format="yuv420p")
    converted.pts, converted.time_base = frame.pts, frame.time_base
    return converted
