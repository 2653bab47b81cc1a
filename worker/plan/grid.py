"""Time on the output frame grid: exact Fractions of a second that are whole numbers of frames."""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction


def grid_split(
    parts: Sequence[Fraction], fps: Fraction, exact_total: Fraction | None = None
) -> list[Fraction]:
    """Lengths on the frame grid whose running sums are the exact running sums rounded: no drift, and
    the whole is exact_total (itself on the grid) when given. Each part is at least one frame."""
    out, acc, prev = [], Fraction(0), Fraction(0)
    for i, p in enumerate(parts):
        acc += p
        edge = round_grid(acc, fps)
        if exact_total is not None and i == len(parts) - 1:
            edge = exact_total
        edge = max(edge, prev + 1 / fps)
        out.append(edge - prev)
        prev = edge
    return out


def on_grid(seconds: Fraction, fps: Fraction) -> Fraction:
    return Fraction(math.floor(seconds * fps)) / fps


def ceil_grid(seconds: Fraction, fps: Fraction) -> Fraction:
    return Fraction(math.ceil(seconds * fps)) / fps


def round_grid(seconds: Fraction, fps: Fraction) -> Fraction:
    return Fraction(math.floor(seconds * fps + Fraction(1, 2))) / fps
