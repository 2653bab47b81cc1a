"""Rendering with PyAV: probe facts, and MP4s checked by decoding them again."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import wave
from array import array
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

import av
import imageio_ffmpeg
import pytest

from cli.samples import luma_level, make_image, make_video
from worker.errors import (
    MaterialNotFoundError,
    MaterialTooLargeError,
    MaterialUnreadableError,
    RenderCancelledError,
)
from worker.plan import OutputSpec, Shot, VariantPlan
from worker.render import probe, render_variant
from worker.render.video import crop_to_aspect

FPS = Fraction(25)
CLIP_A, CLIP_B, STILL = "https://media.test/a.mp4", "https://media.test/b.mp4", "https://media.test/c.png"


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("media")
    paths = {CLIP_A: str(folder / "a.mp4"), CLIP_B: str(folder / "b.mp4"), STILL: str(folder / "c.png")}
    make_video(paths[CLIP_A], 320, 240, 2.0)
    make_video(paths[CLIP_B], 320, 240, 3.0, tone_hz=660)
    make_image(paths[STILL], 400, 300)
    return paths


def spec(**changes: object) -> OutputSpec:
    fields: dict = dict(
        width=180,
        height=320,
        fps=FPS,
        codec="h264",
        crf=23,
        preset="veryfast",
        video_bitrate_kbps=None,
        gop=None,
        audio_bitrate_kbps=128,
    )
    fields.update(changes)
    return OutputSpec(**fields)


def three_shots(output: OutputSpec | None = None) -> VariantPlan:
    return VariantPlan(
        index=0,
        shots=(
            Shot(CLIP_A, Fraction(1, 2), Fraction(6, 5), is_image=False, volume=0.5),
            Shot(STILL, Fraction(0), Fraction(1), is_image=True, volume=1.0),
            Shot(CLIP_B, Fraction(1), Fraction(2), is_image=False, volume=1.0),
        ),
        output=output or spec(),
    )


def mean_luma(frame: av.VideoFrame) -> float:
    plane = frame.planes[0]
    data, stride = bytes(plane), plane.line_size
    return sum(sum(data[r * stride : r * stride + frame.width]) for r in range(frame.height)) / (
        frame.width * frame.height
    )


def rms(samples: list[float]) -> float:
    return (sum(x * x for x in samples) / len(samples)) ** 0.5


def test_three_shots_make_a_playable_mp4(sources: dict[str, str], tmp_path: Path) -> None:
    plan, out = three_shots(), str(tmp_path / "out.mp4")
    progress: list[float] = []
    render_variant(plan, sources, out, on_progress=progress.append)

    with av.open(out) as container:
        assert [s.type for s in container.streams] == ["video", "audio"]
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert video.codec_context.name == "h264" and audio.codec_context.name == "aac"
        assert (video.width, video.height) == (180, 320)
        assert audio.sample_rate == 48000 and audio.channels == 2
        video_s = video.duration * video.time_base
        audio_s = audio.duration * audio.time_base
        frames = list(container.decode(video))
    assert len(frames) == plan.frame_count == 105
    assert abs(video_s - plan.duration_s) < Fraction(1, 10)
    assert abs(audio_s - video_s) <= 1 / FPS
    assert frames[0].format.name == "yuv420p"

    data = Path(out).read_bytes()
    assert 0 < data.find(b"moov") < data.find(b"mdat"), "faststart: moov must precede mdat"

    assert progress == sorted(progress) and progress[-1] == 1.0 and len(progress) >= 105 // 15


def test_sound_follows_the_shots(sources: dict[str, str], tmp_path: Path) -> None:
    out = str(tmp_path / "out.mp4")
    render_variant(three_shots(), sources, out)
    with av.open(out) as container:
        samples: list[float] = []
        for frame in container.decode(audio=0):
            samples.extend(array("f", bytes(frame.planes[0]))[: frame.samples])  # left channel (fltp)

    def between(start_s: float, end_s: float) -> list[float]:
        return samples[round(start_s * 48000) : round(end_s * 48000)]

    # Shots: clip A 0–1.2 s at volume 0.5, the still 1.2–2.2 s, clip B 2.2–4.2 s at volume 1.
    # The clips' tone (peak 8000/32768, mono to stereo at -3 dB) at the shots' volumes; the still is silent.
    full = 8000 / 32768 / 2**0.5 / 2**0.5
    assert rms(between(0.1, 1.1)) == pytest.approx(full * 0.5, rel=0.1)
    assert rms(between(1.3, 2.1)) < 0.001
    assert rms(between(2.3, 4.1)) == pytest.approx(full, rel=0.1)


def test_shot_starts_on_its_in_point(sources: dict[str, str], tmp_path: Path) -> None:
    out = str(tmp_path / "out.mp4")
    plan = VariantPlan(0, (Shot(CLIP_A, Fraction(1), Fraction(1, 2), False, 1.0),), spec())
    render_variant(plan, sources, out)
    with av.open(out) as container:
        first = next(container.decode(video=0))
    with av.open(sources[CLIP_A]) as container:
        at_one_second = next(f for f in container.decode(video=0) if f.time == 1.0)
    # Frames brighten by 4 per frame: within 2 means the very frame at 1.0 s, not a neighbour.
    assert mean_luma(first) == pytest.approx(mean_luma(at_one_second), abs=2)
    assert mean_luma(first) == pytest.approx(luma_level(25), abs=2)


@pytest.mark.parametrize("in_s", [Fraction(0), Fraction(1, 2)])
def test_sound_stays_in_sync_with_a_late_audio_track(tmp_path: Path, in_s: Fraction) -> None:
    path, out = str(tmp_path / "late.mp4"), str(tmp_path / "out.mp4")
    # The track starts 0.3 s after the video: before that the shot needs silence, after it the
    # in-point must be found on the video's clock.
    make_video(path, 64, 64, 2.0, audio_delay_s=0.3, tone_from_s=1.0)
    plan = VariantPlan(0, (Shot("late", in_s, Fraction(3, 2), False, 1.0),), spec(width=64, height=64))
    render_variant(plan, {"late": path}, out)
    with av.open(out) as container:
        samples: list[float] = []
        for frame in container.decode(audio=0):
            samples.extend(array("f", bytes(frame.planes[0]))[: frame.samples])
    onset = next(i for i, x in enumerate(samples) if abs(x) > 0.05) / 48000
    assert onset == pytest.approx(1 - in_s, abs=0.03)  # the tone starts 1.0 s into the source


def test_jpeg_still_is_limited_range_bt709(tmp_path: Path) -> None:
    path, out = str(tmp_path / "white.jpg"), str(tmp_path / "out.mp4")
    make_image(path, 300, 200, (255, 255, 255))
    plan = VariantPlan(0, (Shot("white", Fraction(0), Fraction(2, 5), True, 1.0),), spec())
    render_variant(plan, {"white": path}, out)
    with av.open(out) as container:
        frame = next(container.decode(video=0))
    # JPEG decodes full range; the output must be limited range (white = 235) and say so.
    assert (frame.color_range, frame.colorspace) == (1, 1)
    assert mean_luma(frame) == pytest.approx(235, abs=1)


def test_rotated_source_is_shown_upright(tmp_path: Path) -> None:
    path, out = str(tmp_path / "portrait.mp4"), str(tmp_path / "out.mp4")
    make_video(path, 320, 240, 0.4, with_audio=False, rotation=-90)  # stored sideways, as phones do
    facts = probe(path, "portrait")
    assert (facts.width, facts.height) == (240, 320)

    plan = VariantPlan(0, (Shot("portrait", Fraction(0), Fraction(2, 5), False, 1.0),), spec(width=240))
    render_variant(plan, {"portrait": path}, out)
    with av.open(out) as container:
        frame = next(container.decode(video=0))
    plane = frame.planes[0]
    data, stride = bytes(plane), plane.line_size
    row = data[100 * stride : 100 * stride + frame.width]
    column = bytes(data[r * stride + 100] for r in range(frame.height))
    # The source's vertical stripes must have become horizontal: rows flat, columns striped.
    assert max(row) - min(row) < 6 < max(column) - min(column)


@pytest.mark.parametrize("rotation", [90, -90, 180])
@pytest.mark.parametrize("canvas", [(180, 320), (144, 192)])  # the shown aspect, and a crop of it
def test_a_turned_source_looks_as_ffmpeg_shows_it(
    tmp_path: Path, rotation: int, canvas: tuple[int, int]
) -> None:
    """A phone clip's display matrix, applied after the crop and scale (on canvas-sized frames): the
    picture is the one ffmpeg's own autorotation gives, cut and scaled the same way."""
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    stored, src = str(tmp_path / "stored.mp4"), str(tmp_path / "turned.mp4")
    quiet = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y"]
    subprocess.run([*quiet, "-f", "lavfi", "-i", "testsrc2=s=320x180:r=25:d=0.4", "-pix_fmt", "yuv420p",
                    "-c:v", "libx264", "-crf", "10", stored], check=True)  # fmt: skip
    subprocess.run(
        [*quiet, "-display_rotation:v:0", str(rotation), "-i", stored, "-c", "copy", src], check=True
    )
    shown = (180, 320) if rotation in (90, -90) else (320, 180)
    assert (probe(src, "turned").width, probe(src, "turned").height) == shown
    width, height = canvas if rotation in (90, -90) else canvas[::-1]
    out = str(tmp_path / "out.mp4")
    plan = VariantPlan(
        0, (Shot("turned", Fraction(0), Fraction(2, 5), False, 1.0),), spec(width=width, height=height)
    )
    render_variant(plan, {"turned": src}, out)
    with av.open(out) as container:
        frame = next(container.decode(video=0))
    crop_w, crop_h = crop_to_aspect(shown[0], shown[1], Fraction(1), Fraction(width, height))
    graph = (
        f"crop={crop_w}:{crop_h},scale={width}:{height}:out_color_matrix=bt709:out_range=tv,format=yuv420p"
    )
    shown_by_ffmpeg = [*quiet, "-i", src, "-frames:v", "1", "-vf", graph, "-f", "rawvideo", "-"]
    reference = subprocess.run(shown_by_ffmpeg, check=True, capture_output=True).stdout[: width * height]
    plane = frame.planes[0]
    luma = b"".join(bytes(plane)[r * plane.line_size : r * plane.line_size + width] for r in range(height))
    assert len(luma) == len(reference) == width * height

    def off(a: bytes, b: bytes) -> float:
        return sum(abs(x - y) for x, y in zip(a, b, strict=True)) / len(a)

    assert off(luma, reference) < 8, off(luma, reference)
    # ... and not the picture turned the other way (which the test pattern tells apart).
    upside_down = bytes(reversed(reference))
    assert off(luma, upside_down) > 3 * off(luma, reference)


def test_cancelled_render_stops(sources: dict[str, str], tmp_path: Path) -> None:
    checks: list[int] = []

    def is_cancelled() -> bool:
        checks.append(1)
        return len(checks) > 2

    with pytest.raises(RenderCancelledError):
        render_variant(three_shots(), sources, str(tmp_path / "out.mp4"), is_cancelled=is_cancelled)
    assert len(checks) == 3


def test_probe_facts(sources: dict[str, str]) -> None:
    clip = probe(sources[CLIP_A], CLIP_A)
    assert (clip.url, clip.is_image, clip.width, clip.height) == (CLIP_A, False, 320, 240)
    assert clip.duration_s == 2 and clip.has_audio
    still = probe(sources[STILL], STILL)
    assert (still.is_image, still.width, still.height, still.duration_s, still.has_audio) == (
        True,
        400,
        300,
        0,
        False,
    )


def test_corrupt_source_is_unreadable(tmp_path: Path, sources: dict[str, str]) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(os.urandom(20000))
    with pytest.raises(MaterialUnreadableError, match="bad.mp4"):
        probe(str(bad), "https://media.test/bad.mp4")
    plan = VariantPlan(0, (Shot("https://media.test/bad.mp4", Fraction(0), Fraction(1), False, 1.0),), spec())
    with pytest.raises(MaterialUnreadableError):
        render_variant(plan, {"https://media.test/bad.mp4": str(bad)}, str(tmp_path / "out.mp4"))


def test_missing_source_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(MaterialNotFoundError):
        probe(str(tmp_path / "nothing.mp4"), "https://media.test/nothing.mp4")


def test_audio_only_media_is_unreadable(tmp_path: Path) -> None:
    path = str(tmp_path / "tone.wav")
    with wave.open(path, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(48000)
        wav.writeframes(bytes(9600))
    with pytest.raises(MaterialUnreadableError, match="no video stream"):
        probe(path, "tone")


def test_hevc_with_bitrate_and_gop(sources: dict[str, str], tmp_path: Path) -> None:
    out = str(tmp_path / "out.mp4")
    plan = VariantPlan(
        0,
        (Shot(CLIP_B, Fraction(0), Fraction(2), False, 1.0),),
        spec(codec="hevc", video_bitrate_kbps=300, gop=10, preset="ultrafast"),
    )
    render_variant(plan, sources, out)
    with av.open(out) as container:
        video = container.streams.video[0]
        assert video.codec_context.name == "hevc" and video.codec_tag == "hvc1"
        keyframes = [i for i, p in enumerate(container.demux(video)) if p.is_keyframe and p.size]
    assert len(keyframes) >= 5 and max(b - a for a, b in pairwise(keyframes)) <= 10


def test_a_file_probed_before_is_not_opened_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The facts of the same file are remembered (a batch probes its sources once per variant); another
    file at the same path is probed anew, and the pixel limit holds for remembered facts too."""
    probing = sys.modules["worker.render.probe"]  # the module (worker.render.probe is the function)

    path = str(tmp_path / "clip.mp4")
    make_video(path, 320, 240, 0.4)
    first = probe(path, "file:///first")
    opened: list[str] = []
    real_open = probing.open_input
    monkeypatch.setattr(probing, "open_input", lambda p, u: opened.append(u) or real_open(p, u))
    again = probe(path, "file:///again")
    assert opened == [] and again == dataclasses.replace(first, url="file:///again")
    with pytest.raises(MaterialTooLargeError, match="320x240, more than 1000 pixels"):
        probe(path, "file:///again", max_pixels=1000)
    make_video(path, 160, 120, 0.4)  # replaced: another file at the same path
    os.utime(path, ns=(1, 1))
    assert (probe(path, "file:///new").width, opened) == (160, ["file:///new"])
