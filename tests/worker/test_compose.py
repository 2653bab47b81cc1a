"""What a person would see and hear in a rendered variant: texts, stickers, transitions, canvas fills,
effects, speed, music, ducking and muting, each checked by decoding the MP4 again."""

from __future__ import annotations

import math
from array import array
from fractions import Fraction
from pathlib import Path

import av
import pytest

from cli.samples import luma_level, make_image, make_music, make_sticker, make_video, make_wav
from worker.plan import (
    Background,
    Caption,
    MusicLayer,
    OutputSpec,
    Shot,
    SpeechLayer,
    StickerLayer,
    TextLook,
    VariantPlan,
)
from worker.render import render_variant

FPS = Fraction(25)
W, H = 180, 320
GRAY, DARK, LIGHT, BLACK, LANDSCAPE, CLIP, MUSIC, QUIET, STICKER = (
    "gray.png", "dark.png", "light.png", "black.png", "landscape.png", "clip.mp4", "music.wav", "quiet.wav",
    "white.png",
)  # fmt: skip


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("media")
    paths = {
        name: str(d / name) for name in (GRAY, DARK, LIGHT, BLACK, LANDSCAPE, CLIP, MUSIC, QUIET, STICKER)
    }
    make_image(paths[GRAY], 90, 160, (128, 128, 128))
    make_image(paths[DARK], 90, 160, (60, 60, 60))
    make_image(paths[LIGHT], 90, 160, (200, 200, 200))
    make_image(paths[BLACK], 90, 160, (0, 0, 0))
    make_image(paths[LANDSCAPE], 320, 180, (40, 200, 80))
    make_video(paths[CLIP], 160, 120, 3.0)
    make_music(paths[MUSIC], 1.0, tone_hz=220, amplitude=0.5)  # shorter than the videos: it loops
    make_wav(paths[QUIET], 1.0, amplitude=0.0)  # a narration of silence: only the ducking is heard
    make_sticker(paths[STICKER], 40, 40, (255, 255, 255, 255))
    return paths


def spec(**changes: object) -> OutputSpec:
    fields: dict = dict(width=W, height=H, fps=FPS, codec="h264", crf=18, preset="ultrafast",
                        video_bitrate_kbps=None, gop=None, audio_bitrate_kbps=128)  # fmt: skip
    fields.update(changes)
    return OutputSpec(**fields)


def still(url: str, seconds: Fraction, **kw: object) -> Shot:
    return Shot(url, Fraction(0), seconds, is_image=True, volume=0.0, **kw)  # type: ignore[arg-type]


def render(plan: VariantPlan, sources: dict[str, str], tmp_path: Path, name: str = "out.mp4") -> str:
    out = str(tmp_path / name)
    render_variant(plan, sources, out)
    return out


class Picture:
    """The luma plane of a decoded frame."""

    def __init__(self, frame: av.VideoFrame) -> None:
        plane = frame.planes[0]
        self.data, self.stride, self.width, self.height = (
            bytes(plane),
            plane.line_size,
            frame.width,
            frame.height,
        )

    def mean(self, x0: int = 0, y0: int = 0, x1: int | None = None, y1: int | None = None) -> float:
        x1, y1 = x1 or self.width, y1 or self.height
        total = sum(sum(self.data[r * self.stride + x0 : r * self.stride + x1]) for r in range(y0, y1))
        return total / ((x1 - x0) * (y1 - y0))

    def differs(self, other: Picture, box: tuple[int, int, int, int], tolerance: int = 12) -> bool:
        x0, y0, x1, y1 = box
        return any(
            abs(self.data[r * self.stride + c] - other.data[r * other.stride + c]) > tolerance
            for r in range(y0, y1)
            for c in range(x0, x1)
        )


def pictures(path: str) -> list[Picture]:
    with av.open(path) as c:
        return [Picture(f) for f in c.decode(video=0)]


def left_channel(path: str) -> list[float]:
    samples: list[float] = []
    with av.open(path) as c:
        for frame in c.decode(audio=0):
            samples.extend(array("f", bytes(frame.planes[0]))[: frame.samples])
    return samples


def rms(samples: list[float], start_s: float, end_s: float) -> float:
    part = samples[round(start_s * 48000) : round(end_s * 48000)]
    return math.sqrt(sum(x * x for x in part) / len(part))


def look(**changes: object) -> TextLook:
    fields: dict = dict(font="", size_px=28, color="#FFFFFF", outline_px=2, outline_color="#000000",
                        alignment="TopCenter", x_px=W // 2, y_px=20, width_px=160)  # fmt: skip
    fields.update(changes)
    return TextLook(**fields)


def test_title_is_drawn_where_its_style_says(sources: dict[str, str], tmp_path: Path) -> None:
    bare = VariantPlan(0, (still(GRAY, Fraction(2, 5)),), spec())
    title = Caption("Title", "标题 Ab1", look(), Fraction(0), Fraction(2, 5))
    titled = VariantPlan(0, bare.shots, spec(), captions=(title,))
    plain, drawn = (
        pictures(render(bare, sources, tmp_path, "a.mp4")),
        pictures(render(titled, sources, tmp_path)),
    )
    assert len(drawn) == 10
    for a, b in zip(plain, drawn, strict=True):
        assert b.differs(a, (20, 20, W - 20, 50))  # the text's band, on every frame
        assert not b.differs(a, (0, 80, W, H))  # nothing else changed


def test_subtitle_is_shown_exactly_during_its_cue(sources: dict[str, str], tmp_path: Path) -> None:
    cue = Caption(
        "Subtitle", "字幕", look(alignment="BottomCenter", y_px=300), Fraction(2, 5), Fraction(4, 5)
    )
    plan = VariantPlan(0, (still(GRAY, Fraction(6, 5)),), spec(), captions=(cue,))
    frames = pictures(render(plan, sources, tmp_path))
    band = (0, 250, W, 300)
    shown = [i for i, p in enumerate(frames) if p.differs(frames[0], band)]
    assert shown == list(range(10, 20))  # 0.4 s to 0.8 s at 25 fps


def test_sticker_opacity_blends_with_the_picture(sources: dict[str, str], tmp_path: Path) -> None:
    sticker = StickerLayer(STICKER, x_px=40, y_px=100, width_px=80, height_px=80, opacity=0.6)
    plan = VariantPlan(0, (still(BLACK, Fraction(2, 5)),), spec(), stickers=(sticker,))
    frame = pictures(render(plan, sources, tmp_path))[3]
    # Limited range: black is 16, white 235; 60 % white over black is 16 + 0.6 · 219 ≈ 147.
    assert frame.mean(50, 110, 110, 170) == pytest.approx(16 + 0.6 * 219, abs=4)
    assert frame.mean(0, 0, 30, 30) == pytest.approx(16, abs=2)


def test_transition_frames_blend_their_two_shots(sources: dict[str, str], tmp_path: Path) -> None:
    shots = (
        still(DARK, Fraction(1)),
        still(LIGHT, Fraction(1), transition="fade", transition_s=Fraction(2, 5)),
    )
    plan = VariantPlan(0, shots, spec())
    assert plan.duration_s == Fraction(8, 5)
    frames = pictures(render(plan, sources, tmp_path))
    assert len(frames) == 40
    dark, light = frames[5].mean(), frames[35].mean()
    assert light - dark > 100
    middle = frames[20].mean()  # 0.8 s: halfway through the transition (0.6–1.0 s)
    assert middle == pytest.approx((dark + light) / 2, abs=12)
    means = [f.mean() for f in frames[15:26]]
    assert means == sorted(means)  # a steady blend from one to the other


def test_plain_cuts_and_transitions_keep_the_timeline(sources: dict[str, str], tmp_path: Path) -> None:
    shots = (
        still(DARK, Fraction(3, 5)),
        still(LIGHT, Fraction(1), transition="wipeleft", transition_s=Fraction(2, 5)),
        still(DARK, Fraction(2, 5)),  # a plain cut
    )
    plan = VariantPlan(0, shots, spec())
    frames = pictures(render(plan, sources, tmp_path))
    assert len(frames) == plan.frame_count == 40
    assert frames[29].mean() > frames[30].mean() + 100  # the cut falls exactly on frame 30 (1.2 s)


@pytest.mark.parametrize("mode", ["Blur", "Color", "Image"])
def test_background_fills_the_canvas(mode: str, sources: dict[str, str], tmp_path: Path) -> None:
    background = Background(mode=mode, color="#FF0000", radius=10, image_url=GRAY if mode == "Image" else "")
    plan = VariantPlan(0, (still(LANDSCAPE, Fraction(2, 5)),), spec(), background=background)
    frame = pictures(render(plan, sources, tmp_path))[2]
    centre, top = frame.mean(0, 140, W, 180), frame.mean(0, 0, W, 40)
    assert centre == pytest.approx(frame.mean(0, 150, W, 170), abs=3)  # the picture, fitted in the middle
    if mode == "Blur":  # a blurred copy of the picture above and below it: no black bars
        assert top == pytest.approx(centre, abs=6)
    elif mode == "Color":  # red in BT.709 limited range has a luma of about 63
        assert top == pytest.approx(63, abs=6)
    else:
        assert top == pytest.approx(frame.mean(0, 0, W, 10), abs=2) and abs(top - centre) > 20
        assert top == pytest.approx(126, abs=6)  # the gray background image


def test_zoom_and_speed_change_what_is_shown(sources: dict[str, str], tmp_path: Path) -> None:
    zoom = VariantPlan(0, (Shot(CLIP, Fraction(0), Fraction(1), False, 0.0, effect="zoomin"),), spec())
    plain = VariantPlan(0, (Shot(CLIP, Fraction(0), Fraction(1), False, 0.0),), spec())
    zoomed, normal = (
        pictures(render(zoom, sources, tmp_path, "z.mp4")),
        pictures(render(plain, sources, tmp_path)),
    )
    assert not zoomed[0].differs(normal[0], (0, 0, W, H), tolerance=20)  # starts as it is...
    assert zoomed[24].differs(normal[24], (0, 0, W, H), tolerance=6)  # ...and ends closer
    fast = VariantPlan(0, (Shot(CLIP, Fraction(0), Fraction(1), False, 0.0, speed=Fraction(2)),), spec())
    frames = pictures(render(fast, sources, tmp_path, "fast.mp4"))
    assert frames[5].mean() == pytest.approx(luma_level(10), abs=3)  # at 2× frame 5 shows source frame 10


def test_music_plays_at_its_volume_loops_and_fades_out(sources: dict[str, str], tmp_path: Path) -> None:
    plan = VariantPlan(0, (still(GRAY, Fraction(5, 2)),), spec(), music=MusicLayer(MUSIC, 0.3, ducking=True))
    samples = left_channel(render(plan, sources, tmp_path))
    source_level = 0.5 / math.sqrt(2) / math.sqrt(2)  # a 0.5 sine, mono spread to stereo at -3 dB
    assert rms(samples, 0.2, 0.8) / source_level == pytest.approx(0.3, rel=0.05)
    assert rms(samples, 1.1, 1.4) / source_level == pytest.approx(0.3, rel=0.05)  # looped
    assert rms(samples, 2.3, 2.5) < 0.3 * rms(samples, 0.2, 0.8)  # fading out over the last second


def test_music_is_ducked_under_speech(sources: dict[str, str], tmp_path: Path) -> None:
    speech = SpeechLayer("…", "", sources[QUIET], Fraction(1), Fraction(1), Fraction(1), 1.0)
    music = MusicLayer(MUSIC, 0.3, ducking=True)
    plan = VariantPlan(0, (still(GRAY, Fraction(4)),), spec(), speech=(speech,), music=music)
    samples = left_channel(render(plan, sources, tmp_path))
    free, under = rms(samples, 0.1, 0.6), rms(samples, 1.3, 1.7)
    assert under / free == pytest.approx(0.35, rel=0.1)
    assert rms(samples, 2.4, 2.6) / free == pytest.approx(1, rel=0.1)  # back up after the speech
    plan = VariantPlan(0, plan.shots, spec(), speech=(speech,), music=MusicLayer(MUSIC, 0.3, ducking=False))
    samples = left_channel(render(plan, sources, tmp_path, "flat.mp4"))
    assert rms(samples, 1.3, 1.7) / rms(samples, 0.1, 0.6) == pytest.approx(1, rel=0.05)


def test_clip_sound_is_muted_at_volume_zero(sources: dict[str, str], tmp_path: Path) -> None:
    plan = VariantPlan(0, (Shot(CLIP, Fraction(0), Fraction(1), False, 0.0),), spec())
    samples = left_channel(render(plan, sources, tmp_path))
    assert len(samples) >= 48000 and max(abs(x) for x in samples) < 1e-4
    loud = VariantPlan(0, (Shot(CLIP, Fraction(0), Fraction(1), False, 1.0),), spec())
    assert rms(left_channel(render(loud, sources, tmp_path, "loud.mp4")), 0.1, 0.9) > 0.1


def test_speech_is_placed_and_audio_matches_video(sources: dict[str, str], tmp_path: Path) -> None:
    voice = str(tmp_path / "voice.wav")
    make_wav(voice, 1.0, amplitude=0.5, pauses=False)
    first = SpeechLayer("v", "", voice, Fraction(1, 2), Fraction(4, 5), Fraction(5, 4), 1.0)  # sped up 1.25×
    second = SpeechLayer("w", "", voice, Fraction(2), Fraction(1, 2), Fraction(1), 0.5)  # a group's paragraph
    plan = VariantPlan(0, (still(GRAY, Fraction(3)),), spec(), speech=(first, second))
    out = render(plan, sources, tmp_path)
    samples = left_channel(out)
    assert (
        rms(samples, 0.1, 0.45) < 0.001
        and rms(samples, 1.35, 1.95) < 0.001
        and rms(samples, 2.55, 2.9) < 0.001
    )
    assert rms(samples, 0.6, 1.2) == pytest.approx(0.25, rel=0.05)
    assert rms(samples, 2.05, 2.45) == pytest.approx(0.125, rel=0.05)
    with av.open(out) as c:
        v, a = c.streams.video[0], c.streams.audio[0]
        assert abs(v.duration * v.time_base - a.duration * a.time_base) <= 1 / FPS
