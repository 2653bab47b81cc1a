"""Generated media for the example job and the tests: H.264/AAC clips with moving content, PNG stills,
stickers with transparency, WAV narrations and AAC music.

No numpy: frames are built from bytes, which is fast enough at test sizes.
"""

from __future__ import annotations

import math
import wave
from array import array
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image

AUDIO_RATE = 44100  # deliberately not 48 kHz, so the renderer has to resample


def luma_level(index: int) -> int:
    """The mean luma of frame `index` of a clip made by make_video (a ramp of 4 per frame)."""
    return 20 + (4 * index) % 212


def make_video(
    path: str,
    width: int,
    height: int,
    duration_s: float,
    fps: int = 25,
    with_audio: bool = True,
    tone_hz: float = 440.0,
    gop: int = 12,
    rotation: int = 0,
    chroma: tuple[int, int] = (128, 128),
    audio_delay_s: float = 0.0,
    tone_from_s: float = 0.0,
) -> None:
    """An MP4 (H.264 + mono AAC) whose frame i has mean luma luma_level(i) and a stripe pattern that moves.

    The short GOP makes seeking land on a keyframe in the middle of the clip, as real sources do.
    `rotation` (counter-clockwise degrees) is stored as a display matrix, as phones do. The audio track
    starts `audio_delay_s` after the video, and is silent until `tone_from_s` (on the video's clock).
    """
    frame_count = round(duration_s * fps)
    with av.open(path, "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.gop_size = gop
        if rotation:
            vs.set_display_rotation(rotation)
        vs.options = {"preset": "ultrafast", "crf": "18", "bf": "0"}
        as_ = None
        if with_audio:
            as_ = out.add_stream("aac", rate=AUDIO_RATE, layout="mono")

        for i in range(frame_count):
            frame = av.VideoFrame(width, height, "yuv420p")
            y, u, v = frame.planes
            level = luma_level(i)
            # Stripes of period 32 px shifting 4 px per frame: motion with a per-frame mean of `level`.
            row = bytes(level + (8 if (x + 4 * i) % 32 < 16 else -8) for x in range(width))
            y.update((row + bytes(y.line_size - width)) * height)
            u.update(bytes([chroma[0]]) * u.buffer_size)
            v.update(bytes([chroma[1]]) * v.buffer_size)
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))

        if as_ is not None:
            total = round(duration_s * AUDIO_RATE)
            step = 2 * math.pi * tone_hz / AUDIO_RATE
            tone_from = round(tone_from_s * AUDIO_RATE)
            for start in range(round(audio_delay_s * AUDIO_RATE), total, 1024):
                n = min(1024, total - start)
                samples = array(
                    "h",
                    (
                        int(8000 * math.sin(step * t)) if t >= tone_from else 0
                        for t in range(start, start + n)
                    ),
                )
                aframe = av.AudioFrame(format="s16", layout="mono", samples=n)
                aframe.planes[0].update(samples.tobytes() + bytes(aframe.planes[0].buffer_size - 2 * n))
                aframe.sample_rate = AUDIO_RATE
                aframe.pts = start
                aframe.time_base = Fraction(1, AUDIO_RATE)
                out.mux(as_.encode(aframe))
            out.mux(as_.encode(None))


def make_image(path: str, width: int, height: int, color: tuple[int, int, int] = (200, 40, 40)) -> None:
    """A solid-colour PNG (format from the file name)."""
    Image.new("RGB", (width, height), color).save(path)


def make_sticker(
    path: str,
    width: int,
    height: int,
    color: tuple[int, int, int, int] = (255, 255, 255, 255),
    ring: bool = False,
) -> None:
    """A PNG with an alpha channel: a solid block, or (ring=True) a disc on a transparent square."""
    image = Image.new("RGBA", (width, height), color if not ring else (0, 0, 0, 0))
    if ring:
        from PIL import ImageDraw

        ImageDraw.Draw(image).ellipse((0, 0, width - 1, height - 1), fill=color)
    image.save(path)


def tone_samples(seconds: float, rate: int, tone_hz: float, amplitude: float, pauses: bool = False) -> array:
    """Mono 16-bit samples of a sine tone; with pauses, 0.7 s of tone then 0.3 s of silence, over again."""
    n = round(seconds * rate)
    step = 2 * math.pi * tone_hz / rate
    peak = amplitude * 32767
    return array(
        "h",
        (0 if pauses and (t % rate) > 0.7 * rate else int(peak * math.sin(step * t)) for t in range(n)),
    )


def make_wav(
    path: str,
    seconds: float,
    tone_hz: float = 300.0,
    rate: int = 24000,
    amplitude: float = 0.5,
    pauses: bool = True,
) -> None:
    """A mono 16-bit WAV standing in for a recorded narration (sentences as bursts of tone)."""
    with wave.open(path, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(tone_samples(seconds, rate, tone_hz, amplitude, pauses).tobytes())


def make_music(path: str, seconds: float, tone_hz: float = 220.0, amplitude: float = 0.5) -> None:
    """An audio-only file of a steady tone (AAC in .m4a, or WAV by the file name) standing in for music."""
    if path.endswith(".wav"):
        make_wav(path, seconds, tone_hz, 44100, amplitude, pauses=False)
        return
    samples = tone_samples(seconds, AUDIO_RATE, tone_hz, amplitude)
    with av.open(path, "w") as out:
        stream = out.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        for start in range(0, len(samples), 1024):
            chunk = samples[start : start + 1024]
            frame = av.AudioFrame(format="s16", layout="mono", samples=len(chunk))
            frame.planes[0].update(chunk.tobytes() + bytes(frame.planes[0].buffer_size - 2 * len(chunk)))
            frame.sample_rate, frame.pts, frame.time_base = AUDIO_RATE, start, Fraction(1, AUDIO_RATE)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


EXAMPLE_CLIPS = {
    # name: (tone Hz, whether it has sound, tint as (U, V))
    "opening-1.mp4": (440.0, True, (90, 170)),
    "opening-2.mp4": (523.0, True, (170, 90)),
    "product-1.mp4": (659.0, True, (100, 100)),
    "product-2.mp4": (784.0, False, (160, 160)),
}


def write_example_media(folder: Path) -> None:
    """The media of examples/job.json and examples/full-job.json, made once: landscape clips, stills,
    a sticker with transparency, background pictures, music, and recorded narrations (WAV)."""
    folder.mkdir(parents=True, exist_ok=True)

    def once(name: str, make: Callable[[str], None]) -> None:
        if not (folder / name).exists():
            partial = folder / f".partial-{name}"
            make(str(partial))
            partial.rename(folder / name)

    for name, (tone_hz, with_audio, tint) in EXAMPLE_CLIPS.items():

        def clip(p: str, t: float = tone_hz, a: bool = with_audio, c: tuple[int, int] = tint) -> None:
            make_video(p, 640, 360, 4.0, fps=30, with_audio=a, tone_hz=t, chroma=c)

        once(name, clip)
    once(
        "product-long.mp4", lambda p: make_video(p, 640, 360, 10.0, fps=30, tone_hz=330.0, chroma=(120, 150))
    )
    once("closing.png", lambda p: make_image(p, 720, 1280, (30, 90, 160)))
    once("logo.png", lambda p: make_sticker(p, 256, 256, (255, 196, 0, 255), ring=True))
    once("backdrop-1.jpg", lambda p: make_image(p, 720, 1280, (40, 40, 70)))
    once("backdrop-2.jpg", lambda p: make_image(p, 720, 1280, (70, 40, 40)))
    once("music-1.m4a", lambda p: make_music(p, 6.0, tone_hz=196.0, amplitude=0.4))
    once("music-2.m4a", lambda p: make_music(p, 9.0, tone_hz=247.0, amplitude=0.4))
    # Recorded voice-overs stand in for synthesised speech: bursts of tone, one per "sentence".
    once("narration-1.wav", lambda p: make_wav(p, 6.0, tone_hz=280.0))
    once("narration-2.wav", lambda p: make_wav(p, 8.0, tone_hz=340.0))
