"""Video probing and keyframe selection (media_app.video), on tiny videos made with PyAV."""

from __future__ import annotations

import hashlib
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from core.errors import DomainError
from media_app.video import KeyframeOptions, KeyframeSelector, _difference, _upright, extract_keyframes, probe_video

VIDEO_SHA = "ab" * 32


def scene_pattern(seed: int, width: int = 64, height: int = 48) -> np.ndarray:
    """A blocky random RGB pattern: different seeds are clearly different scenes."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    return np.ascontiguousarray(blocks.repeat(8, 0).repeat(8, 1)[:height, :width])


def write_video(
    path: Path,
    scenes: list[tuple[int, float]],
    *,
    fps: int = 10,
    size: tuple[int, int] = (64, 48),
    codec: str = "libx264",
    container: str | None = None,
    frames=None,
    gop: int | None = None,
) -> Path:
    """Encode ``scenes`` ([(seed, seconds), ...]) as a video; ``frames`` (an iterable of
    RGB arrays) replaces the scenes when given."""
    width, height = size
    if frames is None:
        frames = (scene_pattern(seed, width, height) for seed, seconds in scenes for _ in range(round(seconds * fps)))
    with av.open(str(path), "w", format=container) as out:
        # A fixed GOP (keyframe every ``gop`` frames, none at cuts) when asked for.
        stream = out.add_stream(codec, rate=fps, options={"x264-params": "scenecut=0"} if gop else None)
        if gop:
            stream.codec_context.gop_size = gop
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        for n, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts = n
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def keyframes(path: Path, out: Path, sha: str = VIDEO_SHA, **options):
    return extract_keyframes(path, video_sha256=sha, out_dir=out, options=KeyframeOptions.from_settings(**options))


@pytest.mark.parametrize(
    ("name", "codec", "container", "expected"),
    [
        ("clip.mp4", "libx264", "mp4", "mp4"),
        ("clip.mov", "mpeg4", "mov", "mov"),
        ("clip.mkv", "libx264", "matroska", "mkv"),
        ("clip.webm", "libvpx", "webm", "webm"),
        ("clip.avi", "mjpeg", "avi", "avi"),
        ("clip.ts", "mpeg4", "mpegts", "ts"),
        # The name does not matter: content does.
        ("no_extension", "libx264", "mp4", "mp4"),
        ("holiday.jpg", "libvpx", "webm", "webm"),
    ],
)
def test_probe_identifies_the_container_by_content(tmp_path, name, codec, container, expected):
    path = write_video(tmp_path / name, [(1, 1.0)], codec=codec, container=container)
    info = probe_video(path)
    assert (info.format, info.width, info.height) == (expected, 64, 48)
    assert info.duration == pytest.approx(1.0, abs=0.25)


def test_probe_rejects_text_audio_and_images(tmp_path, image_bytes):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all\n" * 20)
    with pytest.raises(DomainError) as exc:
        probe_video(text)
    assert exc.value.code == "not_media"

    audio = tmp_path / "voice.m4a"
    with av.open(str(audio), "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=8000)
        samples = np.zeros((1, 1024), dtype=np.float32)
        for i in range(8):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 8000, i * 1024
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with pytest.raises(DomainError) as exc:
        probe_video(audio)
    assert exc.value.code == "no_video_stream"

    jpeg = tmp_path / "photo.mp4"
    jpeg.write_bytes(image_bytes(seed=3))
    with pytest.raises(DomainError) as exc:
        probe_video(jpeg)
    assert exc.value.code == "not_media"


def test_three_scene_video_keeps_one_frame_per_scene_in_time_order(tmp_path):
    path = write_video(tmp_path / "three.mp4", [(1, 1.0), (2, 1.0), (3, 1.0)])
    info, kept, warning = keyframes(path, tmp_path / "out")
    assert warning == ""
    assert (info.format, info.width, info.height) == ("mp4", 64, 48)
    assert info.duration == pytest.approx(3.0, abs=0.2)
    assert [k.reason for k in kept] == ["first", "scene", "scene"]
    times = [k.timestamp for k in kept]
    assert times == sorted(times)
    # Each keep lands within one analysis step (0.25 s at 4 fps) after its cut.
    assert times[0] == 0.0
    assert 1.0 <= times[1] <= 1.25 and 2.0 <= times[2] <= 2.25
    assert [k.frame_number for k in kept] == [round(t * 10) for t in times]
    # The JPEGs are the real frames, named after their hash, with thumbnails.
    for kf in kept:
        data = kf.path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == kf.sha256 and len(data) == kf.byte_size
        with Image.open(kf.path) as img:
            assert (img.format, img.size) == ("JPEG", (64, 48))
            assert f"video_sha256={VIDEO_SHA}".encode() in img.info["comment"]
        assert kf.thumb_path.read_bytes()[:3] == b"\xff\xd8\xff"


def test_long_static_video_keeps_one_frame_not_one_per_interval(tmp_path):
    path = write_video(tmp_path / "static.mkv", [(5, 60.0)], fps=2, container="matroska")
    _, kept, _ = keyframes(path, tmp_path / "out", max_interval=10.0)
    assert [(k.timestamp, k.reason) for k in kept] == [(0.0, "first")]


def test_without_a_similarity_floor_a_static_video_gets_one_frame_per_max_interval(tmp_path):
    path = write_video(tmp_path / "static.mp4", [(5, 60.0)], fps=2)
    _, kept, _ = keyframes(path, tmp_path / "out", max_interval=10.0, min_change=0.0)
    assert [k.timestamp for k in kept] == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]
    # Identical pictures, distinct files: each carries its own video and position.
    assert len({k.sha256 for k in kept}) == len(kept)


def test_the_same_frame_in_two_videos_gets_two_hashes(tmp_path):
    path = write_video(tmp_path / "a.mp4", [(7, 1.0)])
    _, first, _ = keyframes(path, tmp_path / "a", sha="01" * 32)
    _, second, _ = keyframes(path, tmp_path / "b", sha="02" * 32)
    assert first[0].sha256 != second[0].sha256


def test_fast_cuts_keep_every_scene(tmp_path):
    seeds = [11, 12, 13, 14, 15, 16, 17, 18]
    path = write_video(tmp_path / "cuts.mp4", [(seed, 0.6) for seed in seeds], fps=25)
    _, kept, _ = keyframes(path, tmp_path / "out")
    assert len(kept) == len(seeds)


def test_min_interval_drops_flashes_shorter_than_it(tmp_path):
    # Two scenes alternating every 0.2 s: a strobe, not eleven scenes.
    path = write_video(tmp_path / "strobe.mp4", [(21 + i % 2, 0.2) for i in range(11)], fps=10)
    _, kept, _ = keyframes(path, tmp_path / "out", min_interval=1.0, analysis_fps=10)
    times = [k.timestamp for k in kept]
    assert all(b - a >= 1.0 for a, b in zip(times, times[1:], strict=False))
    assert len(kept) <= 3


def test_slow_drift_is_covered_every_max_interval(tmp_path):
    # A slow pan: the picture changes a little every frame, never a cut.
    base = scene_pattern(31, 256, 48)
    frames = (np.ascontiguousarray(base[:, i : i + 64]) for i in range(0, 192, 2))
    path = write_video(tmp_path / "pan.mp4", [], fps=4, frames=frames)  # 24 s
    _, kept, _ = keyframes(path, tmp_path / "out", max_interval=5.0, scene_threshold=0.9)
    reasons = [k.reason for k in kept]
    assert reasons[0] == "first" and set(reasons[1:]) == {"interval"}
    times = [k.timestamp for k in kept]
    assert 4 <= len(kept) <= 6
    assert all(4.9 <= b - a <= 5.3 for a, b in zip(times, times[1:], strict=False))


def natural_texture(height: int, width: int, seed: int, contrast: float = 40) -> np.ndarray:
    """Gray 1/f noise: the spectrum of natural scenes, unlike blocky random patterns."""
    rng = np.random.default_rng(seed)
    fy, fx = np.fft.fftfreq(height)[:, None], np.fft.fftfreq(width)[None, :]
    spectrum = np.fft.fft2(rng.standard_normal((height, width))) / np.maximum(np.hypot(fx, fy), 1 / width)
    img = np.real(np.fft.ifft2(spectrum))
    return np.clip(128 + contrast * (img - img.mean()) / img.std(), 0, 255).astype(np.uint8)


def test_handheld_camera_motion_is_not_a_string_of_cuts(tmp_path):
    # 40 s of jerky panning over one busy place, up to a third of the frame per sample:
    # most steps differ by more than the scene threshold.
    texture = natural_texture(48, 2000, seed=3, contrast=90)
    steps = np.random.default_rng(4).integers(6, 22, size=160)
    xs = np.cumsum(steps) % (2000 - 64)
    frames = (np.ascontiguousarray(np.repeat(texture[:, x : x + 64, None], 3, axis=2)) for x in xs)
    path = write_video(tmp_path / "handheld.mp4", [], fps=4, frames=frames)
    _, kept, _ = keyframes(path, tmp_path / "out", max_interval=10.0)
    # About one frame per max_interval, as for any footage without cuts.
    assert [k.reason for k in kept][:1] == ["first"] and len(kept) <= 6
    assert [k.reason for k in kept].count("scene") <= 1


def test_cuts_are_kept_while_the_camera_moves(tmp_path):
    # Four places, dark and bright in turn, 4 s each, filmed panning 8 px per frame:
    # most steps of the pan differ by more than the scene threshold.
    places = [
        np.clip(natural_texture(48, 600, seed=s, contrast=60).astype(int) + shift, 0, 255).astype(np.uint8)
        for s, shift in zip((10, 11, 12, 13), (-50, 50, -50, 50), strict=True)
    ]
    views = [places[i // 16][:, (i % 16) * 8 : (i % 16) * 8 + 64] for i in range(64)]
    assert np.median([_difference(a, b) for a, b in zip(views, views[1:], strict=False)]) > 0.1
    frames = (np.ascontiguousarray(np.repeat(view[:, :, None], 3, axis=2)) for view in views)
    path = write_video(tmp_path / "report.mp4", [], fps=4, frames=frames)
    _, kept, _ = keyframes(path, tmp_path / "out")
    assert [(k.timestamp, k.reason) for k in kept] == [(0.0, "first"), (4.0, "scene"), (8.0, "scene"), (12.0, "scene")]


def test_intra_only_video_and_keyframes_only_mode(tmp_path):
    mjpeg = write_video(tmp_path / "cctv.avi", [(1, 1.0), (2, 1.0), (3, 1.0)], codec="mjpeg", container="avi")
    _, kept, _ = keyframes(mjpeg, tmp_path / "a")
    assert [k.reason for k in kept] == ["first", "scene", "scene"]
    # keyframes_only decodes only the encoder's keyframes (here one per second): a cut
    # is seen at the next keyframe. Fast, and coarse by design.
    h264 = write_video(tmp_path / "gop.mp4", [(1, 1.5), (2, 1.0), (3, 1.5)], gop=10)
    _, kept, _ = keyframes(h264, tmp_path / "b")
    assert [k.timestamp for k in kept] == [0.0, 1.5, 2.5]
    _, kept, _ = keyframes(h264, tmp_path / "c", keyframes_only=True)
    assert [k.timestamp for k in kept] == [0.0, 2.0, 3.0]


def test_truncated_video_keeps_what_decodes_and_says_so(tmp_path):
    full = write_video(tmp_path / "full.mkv", [(1, 1.0), (2, 1.0), (3, 1.0)], container="matroska")
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(full.read_bytes()[: int(full.stat().st_size * 0.6)])
    _, kept, warning = keyframes(cut, tmp_path / "out")
    assert kept and "truncated" in warning


def test_video_whose_index_is_cut_off_is_not_readable(tmp_path):
    full = write_video(tmp_path / "full.mp4", [(1, 1.0), (2, 1.0)])  # moov at the end
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(DomainError) as exc:
        keyframes(cut, tmp_path / "out")
    assert exc.value.code == "not_media"


def test_selector_rules_on_plain_arrays():
    opts = KeyframeOptions(scene_threshold=0.2, max_interval=10.0, min_interval=1.0, min_change=0.01, analysis_fps=4)
    sel = KeyframeSelector(opts)
    a = np.zeros((8, 8), np.uint8)
    b = np.full((8, 8), 200, np.uint8)
    near_a = np.full((8, 8), 1, np.uint8)
    some_change = np.full((8, 8), 10, np.uint8)
    assert sel.consider(0.0, a)[0] == "first"
    assert sel.consider(0.5, b)[0] is None  # a cut within min_interval waits...
    assert sel.consider(1.0, b)[0] == "scene"  # ...and is kept once it has passed
    assert sel.consider(30.0, b + 1)[0] is None  # max_interval, but unchanged
    assert sel.consider(31.0, a)[0] == "scene"
    assert sel.consider(45.0, near_a)[0] is None
    assert sel.consider(46.0, some_change)[0] == "interval"


def test_selector_tells_sustained_motion_from_a_cut():
    opts = KeyframeOptions(scene_threshold=0.1, max_interval=100.0, min_interval=0.5, min_change=0.01, analysis_fps=4)
    sel = KeyframeSelector(opts)
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, size=(16, 400), dtype=np.uint8)
    reasons = [sel.consider(i / 4, texture[:, 4 * i : 4 * i + 32])[0] for i in range(40)]
    assert reasons[0] == "first" and set(reasons[2:]) == {None}  # a steady pan: every step differs
    cut = np.full((16, 32), 20, np.uint8)  # a dark room: as busy a step as the pan, another histogram
    assert sel.consider(10.0, cut)[0] == "scene"


def test_upright_applies_display_rotation():
    img = Image.new("RGB", (40, 20))
    assert _upright(img, 0).size == (40, 20)
    assert _upright(img, 90).size == (20, 40)
    assert _upright(img, -90).size == (20, 40)
    assert _upright(img, 180).size == (40, 20)


@pytest.mark.parametrize(
    "codec, container, playable",
    [("libx264", "mp4", True), ("mpeg4", "mp4", False), ("libx264", "matroska", False), ("libvpx-vp9", "webm", True), ("mjpeg", "avi", False)],
)
def test_browser_playable_names_what_browsers_play(tmp_path, codec, container, playable):
    from media_app.video import browser_playable

    path = write_video(tmp_path / f"v.{container}", [(1, 0.5)], codec=codec, container=container)
    assert browser_playable(probe_video(path)) is playable


def test_the_playable_copy_is_h264_aac_mp4_upright_with_every_frame(tmp_path):
    from media_app.video import browser_playable, transcode_playable

    src = tmp_path / "odd.mkv"
    with av.open(str(src), "w") as out:  # odd size, PCM audio: neither plays in a browser
        video = out.add_stream("mpeg4", rate=10)
        video.width, video.height, video.pix_fmt = 65, 49, "yuv420p"
        audio = out.add_stream("pcm_s16le", rate=44100, layout="mono")
        for n in range(20):
            frame = av.VideoFrame.from_ndarray(scene_pattern(n // 10, 65, 49), format="rgb24")
            frame.pts = n
            for packet in video.encode(frame):
                out.mux(packet)
            sound = av.AudioFrame.from_ndarray(np.zeros((1, 4410), np.int16), format="s16", layout="mono")
            sound.sample_rate, sound.pts = 44100, n * 4410
            for packet in audio.encode(sound):
                out.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode():
                out.mux(packet)
    assert not browser_playable(probe_video(src))

    copy = transcode_playable(src, tmp_path / "copy.mp4")

    info = probe_video(copy)
    assert browser_playable(info) and (info.codec, info.audio_codec, info.width, info.height) == ("h264", "aac", 64, 48)
    with av.open(str(copy)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 20
    assert info.duration == pytest.approx(2.0, abs=0.15)


def test_a_file_that_is_no_video_has_no_copy(tmp_path):
    from media_app.video import transcode_playable

    (tmp_path / "x.mp4").write_bytes(b"not a video at all")
    with pytest.raises(DomainError):
        transcode_playable(tmp_path / "x.mp4", tmp_path / "copy.mp4")
