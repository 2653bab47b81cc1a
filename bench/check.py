"""Are two tools' outputs the same video? Size, length (within one frame), streams, faststart, and the
pictures themselves (PSNR against the ffmpeg CLI's output)."""

from __future__ import annotations

import re
import struct
import subprocess
from dataclasses import dataclass

import av


@dataclass(frozen=True)
class Facts:
    width: int
    height: int
    frames: int
    video_s: float
    audio_s: float
    codecs: tuple[str, str]
    faststart: bool


class NotEquivalentError(Exception):
    pass


def facts(path: str) -> Facts:
    with av.open(path) as c:
        if len(c.streams.video) != 1 or len(c.streams.audio) != 1:
            raise NotEquivalentError(
                f"{path}: {len(c.streams.video)} video and {len(c.streams.audio)} audio streams"
            )
        v, a = c.streams.video[0], c.streams.audio[0]
        frames = v.frames or sum(1 for _ in c.demux(v))
        video_s = float(v.duration * v.time_base) if v.duration else 0.0
        audio_s = float(a.duration * a.time_base) if a.duration else 0.0
        return Facts(
            v.codec_context.width,
            v.codec_context.height,
            frames,
            video_s,
            audio_s,
            (v.codec_context.name, a.codec_context.name),
            moov_before_mdat(path),
        )


def moov_before_mdat(path: str) -> bool:
    """faststart: the index (moov) comes before the media data (mdat) at the top level."""
    with open(path, "rb") as f:
        while header := f.read(8):
            size, kind = struct.unpack(">I4s", header)
            if kind == b"moov":
                return True
            if kind == b"mdat":
                return False
            if size == 1:
                size = struct.unpack(">Q", f.read(8))[0] - 8
            f.seek(size - 8, 1)
    return False


def check(path: str, width: int, height: int, fps: int, duration_s: float) -> Facts:
    """Raise NotEquivalentError unless `path` is the reference shape."""
    f = facts(path)
    frame = 1 / fps
    problems = []
    if (f.width, f.height) != (width, height):
        problems.append(f"{f.width}x{f.height} instead of {width}x{height}")
    if abs(f.frames - round(duration_s * fps)) > 1 or abs(f.video_s - duration_s) > frame + 1e-6:
        problems.append(f"{f.frames} frames / {f.video_s:.3f} s instead of {duration_s:.3f} s")
    if abs(f.audio_s - duration_s) > 2 * frame:
        problems.append(f"sound {f.audio_s:.3f} s instead of {duration_s:.3f} s")
    if f.codecs != ("h264", "aac"):
        problems.append(f"codecs {f.codecs}")
    if not f.faststart:
        problems.append("no faststart (moov after mdat)")
    if problems:
        raise NotEquivalentError(f"{path}: {'; '.join(problems)}")
    return f


def psnr_db(ffmpeg: str, path: str, reference: str) -> float:
    """The average PSNR (Y, U, V weighted) of `path`'s pictures against `reference`'s."""
    done = subprocess.run(
        [
            ffmpeg,
            "-nostdin",
            "-hide_banner",
            "-i",
            path,
            "-i",
            reference,
            "-lavfi",
            "[0:v][1:v]psnr",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"average:([0-9.]+|inf)", done.stderr)
    if found is None:
        raise NotEquivalentError(f"no PSNR for {path}: {done.stderr[-500:]}")
    return float(found.group(1))
