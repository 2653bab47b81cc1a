"""The reference composition of the render benchmark, and the same composition for each tool.

15 s at 1080×1920 30 fps: three 5 s shots cut from 1920×1080 30 fps H.264 sources with moving content
(cli.samples), each scaled to cover and centre-cropped; a title and a logo at 0.6 opacity over the
whole video; speech (a WAV, as a recorded voice-over: the same audio for every tool, no subtitles) at 1
and music at 0.3, mixed without ducking (the music fades out over the last second, as reelmill's always
does, so the ffmpeg and MoviePy versions fade it too); libx264 CRF 27 preset veryfast, AAC 128 kbps,
faststart.

reelmill gets an ICE-shaped job (validated by the gateway's own code); ffmpeg and MoviePy get the
composition that reelmill's plan of that job describes (the same sources, in-points, sizes, positions),
with the title drawn once by reelmill's text code and saved as a PNG.

A batch draws 20 variants from a pool: three groups of two 10 s sources each (AverageSplit into 5 s
pieces), four titles, two logos, two musics, so that variants share shots as real batches do.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import imageio_ffmpeg

from cli.client import submit_request
from cli.samples import make_music, make_sticker, make_video, make_wav
from gateway.validate import Roots, validate_submit
from reelmill.v1 import render_pb2
from worker.plan import VariantPlan, plan_variant
from worker.render.fonts import FontBook, FontMetrics
from worker.render.probe import probe
from worker.render.text import draw_caption
from worker.render.video import crop_to_aspect
from worker.speech import narration_from_wav


@dataclass(frozen=True)
class Size:
    """The dimensions of one benchmark: the reference (full) or the smoke test's (quick)."""

    name: str
    width: int  # output
    height: int
    source_width: int
    source_height: int
    duration_s: int  # output length: three shots of a third each
    fps: int = 30
    crf: int = 27
    preset: str = "veryfast"
    audio_kbps: int = 128
    music_volume: float = 0.3
    sticker_opacity: float = 0.6
    phone: bool = False  # sources like phone footage: HEVC, 10- and 8-bit, 60 and 30 fps, turned

    @property
    def shot_s(self) -> Fraction:
        return Fraction(self.duration_s, 3)

    @property
    def source_s(self) -> int:
        return 2 * int(self.shot_s)  # two pieces per source


FULL = Size("reference", 1080, 1920, 1920, 1080, 15)
QUICK = Size("quick", 360, 640, 640, 360, 3)
# Phone footage: 4K HEVC sources (stored 3840×2160; turned ones are shown 2160×3840), 6 s videos of three
# 2 s shots from 4 s sources, so that the batch stays minutes long on 2 cores.
PHONE = Size("phone", 1080, 1920, 3840, 2160, 6, phone=True)
PHONE_QUICK = Size("phone-quick", 360, 640, 640, 360, 3, phone=True)
# (frame rate, pixel format, display rotation) of the six phone sources, in SOURCES' order: what phones
# record (10-bit HDR-capable and 8-bit, 60 and 30 fps, held upright so stored sideways, or landscape).
PHONE_SOURCES = [
    (60, "yuv420p10le", -90),
    (30, "yuv420p", 0),
    (60, "yuv420p", 90),
    (30, "yuv420p10le", -90),
    (60, "yuv420p10le", 0),
    (30, "yuv420p", -90),
]
PHONE_CRF = 22  # about 40 Mb/s at 4K 60 fps for the test pattern: a phone's bit rate

TITLES = ["Fresh every morning", "Made by hand", "Ten minutes from you", "Open late tonight"]
# (tone Hz, tint as (U, V)) of the sources, two per group
SOURCES = [
    (440.0, (90, 170)),
    (523.0, (170, 90)),
    (659.0, (100, 100)),
    (784.0, (160, 160)),
    (330.0, (120, 150)),
    (392.0, (150, 110)),
]


def make_media(folder: Path, size: Size) -> Path:
    """The sources, logos, musics and the speech, made once per size (kept between runs)."""
    media = folder / f"media-{size.name}"
    media.mkdir(parents=True, exist_ok=True)

    def once(name: str, make) -> None:  # type: ignore[no-untyped-def]
        if not (media / name).exists():
            partial = media / f".partial-{name}"
            make(str(partial))
            partial.rename(media / name)

    for i, (tone, tint) in enumerate(SOURCES):
        if size.phone:
            fps, pix_fmt, rotation = PHONE_SOURCES[i]
            once(
                f"source-{i + 1}.mp4",
                lambda p, f=fps, x=pix_fmt, r=rotation, t=tone, k=i: make_phone_video(
                    p, size.source_width, size.source_height, size.source_s, f, x, r, t, k
                ),
            )
            continue
        once(
            f"source-{i + 1}.mp4",
            lambda p, t=tone, c=tint: make_video(
                p, size.source_width, size.source_height, size.source_s, fps=size.fps, tone_hz=t, chroma=c
            ),
        )
    logo = max(32, size.width // 4)
    once("logo-1.png", lambda p: make_sticker(p, logo, logo, (255, 196, 0, 255), ring=True))
    once("logo-2.png", lambda p: make_sticker(p, logo, logo, (40, 200, 255, 255), ring=True))
    once("music-1.m4a", lambda p: make_music(p, size.duration_s + 5, tone_hz=196.0, amplitude=0.4))
    once("music-2.m4a", lambda p: make_music(p, size.duration_s + 5, tone_hz=247.0, amplitude=0.4))
    once("speech.wav", lambda p: make_wav(p, size.duration_s, tone_hz=280.0))
    return media


def make_phone_video(
    path: str, width: int, height: int, seconds: int, fps: int, pix_fmt: str, rotation: int, tone_hz: float,
    seed: int,
) -> None:  # fmt: skip
    """A clip like a phone's: HEVC in MP4 (hvc1) with a keyframe each second (as phones write them),
    moving content (ffmpeg's testsrc2, each source its own hue), a tone, and the display rotation a
    phone held upright stores."""
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    quiet = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y"]
    plain = f"{path}.plain.mp4"
    subprocess.run([*quiet, "-f", "lavfi", "-i", f"testsrc2=s={width}x{height}:r={fps}:d={seconds}",
                    "-f", "lavfi", "-i", f"sine=f={tone_hz}:d={seconds}:sample_rate=48000",
                    "-vf", f"hue=h={seed * 60}", "-c:v", "libx265", "-preset", "ultrafast",
                    "-crf", str(PHONE_CRF), "-pix_fmt", pix_fmt,
                    "-x265-params", f"log-level=error:keyint={fps}", "-tag:v", "hvc1",
                    "-c:a", "aac", "-b:a", "128k", "-f", "mp4", plain], check=True)  # fmt: skip
    turn = ["-display_rotation:v:0", str(rotation)] if rotation else []
    subprocess.run([*quiet, *turn, "-i", plain, "-c", "copy", "-f", "mp4", path], check=True)
    os.unlink(plain)


def job_document(media: Path, out: Path, size: Size, *, batch: bool) -> dict:
    """The ICE request: one variant (the reference) or a batch of 20 from the pool."""
    groups = [
        {
            "GroupName": f"group-{g + 1}",
            "MediaArray": [
                f"file://{media}/source-{i + 1}.mp4" for i in ((2 * g, 2 * g + 1) if batch else (g,))
            ],
        }
        for g in range(3)
    ]
    titles = TITLES if batch else TITLES[:1]
    logos = ["logo-1.png", "logo-2.png"] if batch else ["logo-1.png"]
    musics = ["music-1.m4a", "music-2.m4a"] if batch else ["music-1.m4a"]
    return {
        "InputConfig": {
            "MediaGroupArray": groups,
            "TitleArray": titles,
            "SpeechTextArray": [f"file://{media}/speech.wav"],
            "StickerArray": [
                {"MediaURL": f"file://{media}/{n}", "Opacity": size.sticker_opacity} for n in logos
            ],
            "BackgroundMusicArray": [f"file://{media}/{n}" for n in musics],
        },
        "EditingConfig": {
            "SpeechConfig": {"Volume": 1, "Subtitles": False},
            "BackgroundMusicConfig": {"Volume": size.music_volume, "Ducking": False},
            "ProcessConfig": {"SingleShotDuration": float(size.shot_s)},
        },
        "OutputConfig": {
            "MediaURL": f"file://{out}/reelmill-{{index}}.mp4",
            "Count": 20 if batch else 1,
            "Width": size.width,
            "Height": size.height,
            "Video": {"Codec": "H.264", "Crf": size.crf, "Fps": size.fps, "Preset": size.preset},
            "Audio": {"Bitrate": size.audio_kbps},
        },
        "Seed": 6,
    }


def commands(doc: dict, media: Path, out: Path) -> list[render_pb2.RenderCommand]:
    """The render commands the gateway would publish for the job (one per variant)."""
    job = validate_submit(submit_request(doc, str(media)), Roots((str(media),), str(out)))
    return [
        render_pb2.RenderCommand(
            batch_id="bench",
            sub_job_id=f"bench-{k}",
            index=k,
            count=job.count,
            seed=job.seed or 0,
            input_config=job.input_config,
            editing_config=job.editing_config,
            output_config=job.output_config,
            output_url=job.output_url(k),
        )
        for k in range(job.count)
    ]


def plan_of(cmd: render_pb2.RenderCommand) -> VariantPlan:
    """The plan the worker makes of the command (the same calls as worker.job.run_job)."""
    from worker.selection import media_urls, select

    sel = select(cmd)
    urls = media_urls(cmd) + ([sel.sticker.media_url] if sel.sticker is not None else [])
    facts = {u: probe(_path(u), u) for u in dict.fromkeys(urls)}
    narrations = {t: narration_from_wav(_path(t)) for t in sel.texts_to_speak()}
    # the fonts' own metrics, as the worker plans (worker/job.py): the same text layout in every tool
    return plan_variant(cmd, facts, narrations, FontMetrics(FontBook()))


def _path(url: str) -> str:
    return url.removeprefix("file://")


@dataclass(frozen=True)
class Composition:
    """What the ffmpeg and MoviePy versions render: the plan of a reelmill variant, in plain terms."""

    width: int
    height: int
    fps: int
    duration_s: float
    crf: int
    preset: str
    audio_kbps: int
    shots: list[dict]  # {"path", "in_s", "duration_s", "crop": [w, h, x, y]}
    title: dict  # {"path", "x", "y"}: a PNG drawn by reelmill's text code
    sticker: dict  # {"path", "x", "y", "width", "height", "opacity"}
    speech: dict  # {"path", "volume"}
    music: dict  # {"path", "volume", "fade_out_s"}

    def to_json(self) -> str:
        return json.dumps(asdict(self))


def composition(plan: VariantPlan, folder: Path, name: str) -> Composition:
    """The plan as a tool-neutral composition (checks that it is the reference shape)."""
    spec = plan.output
    assert len(plan.shots) == 3 and all(s.speed == 1 and not s.transition for s in plan.shots), plan.to_json()
    assert len(plan.captions) == 1 and len(plan.stickers) == 1 and len(plan.speech) == 1, plan.to_json()
    assert plan.music is not None and not plan.music.ducking and plan.background.mode == "Crop"
    shots = []
    for shot in plan.shots:
        facts = probe(_path(shot.source_url), shot.source_url)
        w, h = crop_to_aspect(facts.width, facts.height, Fraction(1), Fraction(spec.width, spec.height))
        shots.append(
            {
                "path": _path(shot.source_url),
                "in_s": float(shot.in_s),
                "duration_s": float(shot.duration_s),
                "crop": [w, h, (facts.width - w) // 2, (facts.height - h) // 2],
            }
        )
    caption = plan.captions[0]
    placed = draw_caption(caption, FontBook(), (spec.width, spec.height))
    title_path = folder / f"{name}-title.png"
    placed.image.save(title_path)
    s = plan.stickers[0]
    speech = plan.speech[0]
    return Composition(
        width=spec.width,
        height=spec.height,
        fps=int(spec.fps),
        duration_s=float(plan.duration_s),
        crf=spec.crf,
        preset=spec.preset,
        audio_kbps=spec.audio_bitrate_kbps,
        shots=shots,
        title={"path": str(title_path), "x": placed.x, "y": placed.y},
        sticker={
            "path": _path(s.url),
            "x": s.x_px,
            "y": s.y_px,
            "width": s.width_px,
            "height": s.height_px,
            "opacity": s.opacity,
        },
        speech={"path": speech.audio_path, "volume": speech.volume},
        music={
            "path": _path(plan.music.url),
            "volume": plan.music.volume,
            "fade_out_s": float(plan.music.fade_out_s),
        },
    )


TO_BT709 = "out_color_matrix=bt709:out_range=tv"


def ffmpeg_command(ffmpeg: str, c: Composition, out: str, *, scale_first: bool = False) -> list[str]:
    """The composition as one ffmpeg command: one filter_complex, the same encoder settings.

    Crop first, then scale (only the surviving region is scaled), as reelmill does; `scale_first` is
    the usual hand-written graph (scale to cover, then crop), for comparison.
    """
    args = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    for shot in c.shots:  # input seeking: exact with transcoding
        args += ["-ss", f"{shot['in_s']:.6f}", "-t", f"{shot['duration_s']:.6f}", "-i", shot["path"]]
    # Stills as single frames (overlay repeats the last frame): no per-frame decoding of the PNGs.
    args += ["-i", c.title["path"], "-i", c.sticker["path"], "-i", c.speech["path"], "-i", c.music["path"]]
    n = len(c.shots)
    title, logo, speech, music = n, n + 1, n + 2, n + 3
    samples = round(c.duration_s * 48000)
    parts = []
    for i, shot in enumerate(c.shots):
        w, h, x, y = shot["crop"]
        if scale_first:
            frame = (
                f"scale={c.width}:{c.height}:force_original_aspect_ratio=increase:{TO_BT709},"
                f"crop={c.width}:{c.height}"
            )
        else:
            frame = f"crop={w}:{h}:{x}:{y},scale={c.width}:{c.height}:{TO_BT709}"
        parts.append(f"[{i}:v]fps={c.fps},{frame},format=yuv420p,setsar=1[v{i}]")
    parts.append("".join(f"[v{i}]" for i in range(n)) + f"concat=n={n}:v=1:a=0[base]")
    s = c.sticker
    parts.append(
        f"[{logo}:v]format=rgba,scale={s['width']}:{s['height']}:flags=lanczos,"
        f"colorchannelmixer=aa={s['opacity']},scale=out_color_matrix=bt709:out_range=tv,format=yuva420p[logo]"
    )
    parts.append(f"[{title}:v]format=rgba,scale=out_color_matrix=bt709:out_range=tv,format=yuva420p[title]")
    parts.append(f"[base][logo]overlay=x={s['x']}:y={s['y']}:format=yuv420[b1]")
    parts.append(f"[b1][title]overlay=x={c.title['x']}:y={c.title['y']}:format=yuv420,format=yuv420p[v]")
    to_48k = "aresample=48000,aformat=sample_fmts=fltp:channel_layouts=stereo"
    fade_at = c.duration_s - c.music["fade_out_s"]
    parts.append(f"[{speech}:a]{to_48k},volume={c.speech['volume']},apad,atrim=end_sample={samples}[sp]")
    parts.append(
        f"[{music}:a]{to_48k},volume={c.music['volume']},apad,atrim=end_sample={samples},"
        f"afade=t=out:st={fade_at:.6f}:d={c.music['fade_out_s']:.6f}[mu]"
    )
    parts.append("[sp][mu]amix=inputs=2:normalize=0:duration=longest[a]")
    args += ["-filter_complex", ";".join(parts), "-map", "[v]", "-map", "[a]"]
    args += encoder_args(c) + ["-t", f"{c.duration_s:.6f}", out]
    return args


def x264_args(c: Composition) -> list[str]:
    """The video encoder's settings, the same for the composition and for x264 alone."""
    return ["-c:v", "libx264", "-preset", c.preset, "-crf", str(c.crf), "-pix_fmt", "yuv420p"]


def encoder_args(c: Composition) -> list[str]:
    return x264_args(c) + [
        "-colorspace",
        "bt709",
        "-color_primaries",
        "bt709",
        "-color_trc",
        "bt709",
        "-color_range",
        "tv",
        "-c:a",
        "aac",
        "-b:a",
        f"{c.audio_kbps}k",
        "-ar",
        "48000",
        "-ac",
        "2",
        "-movflags",
        "+faststart",
    ]


def x264_floor_command(ffmpeg: str, frames_path: str, c: Composition, out: str) -> list[str]:
    """x264 alone on already rendered frames (raw yuv420p): the encoder floor of the composition."""
    return [
        ffmpeg,
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "yuv420p",
        "-s",
        f"{c.width}x{c.height}",
        "-r",
        str(c.fps),
        "-i",
        frames_path,
        *x264_args(c),
        "-f",
        "null",
        out,
    ]


def frame_count(c: Composition) -> int:
    return math.floor(c.duration_s * c.fps + 1e-9)
