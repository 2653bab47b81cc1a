"""Clips whose frames show their own number, and reading the number back from a rendered output.

Frame i of a numbered clip shows i + `first` in binary as BITS vertical bars (white 1, black 0),
most significant bit on the left, over its whole height. Scaled, encoded and decoded again, a bar
stays far from the threshold, so the number of the source frame an output frame shows can be read
exactly: that is what proves at which speed footage plays.
"""

from __future__ import annotations

from fractions import Fraction

import av

BITS = 12


def make_numbered_video(
    path: str, width: int, height: int, seconds: float, fps: int = 25, first: int = 0
) -> None:
    """An H.264 MP4 without sound whose frame i shows the number first + i."""
    with av.open(path, "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.options = {"preset": "ultrafast", "crf": "12", "bf": "0"}
        for i in range(round(seconds * fps)):
            n = first + i
            row = bytearray(width)
            for b in range(BITS):
                lo, hi = b * width // BITS, (b + 1) * width // BITS
                row[lo:hi] = bytes([235 if (n >> (BITS - 1 - b)) & 1 else 16]) * (hi - lo)
            frame = av.VideoFrame(width, height, "yuv420p")
            y, u, v = frame.planes
            y.update((bytes(row) + bytes(y.line_size - width)) * height)
            u.update(bytes([128]) * u.buffer_size)
            v.update(bytes([128]) * v.buffer_size)
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))


def frame_number(line: bytes) -> int | None:
    """The number an output frame shows, read along one row of grey levels; None where a bar is not
    clearly black or white (a transition, a text over it)."""
    width = len(line)
    n = 0
    for b in range(BITS):
        lo, hi = b * width // BITS, (b + 1) * width // BITS
        middle = line[lo + (hi - lo) // 4 : hi - (hi - lo) // 4]
        level = sum(middle) / len(middle)
        if 60 < level < 190 or max(middle) - min(middle) > 80:
            return None
        n = 2 * n + (level >= 128)
    return n


def numbers_of(path: str, row_fraction: float = 0.5) -> list[int | None]:
    """The source frame number of each frame of a rendered MP4."""
    out = []
    with av.open(path) as c:
        for f in c.decode(video=0):
            gray = f.to_image().convert("L")
            y = int(gray.height * row_fraction)
            out.append(frame_number(bytes(gray.getpixel((x, y)) for x in range(gray.width))))
    return out
