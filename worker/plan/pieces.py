"""Pieces of media: the parts of each source that shots are taken from (AverageSplit, NoSplit and the
TimeRangeList ranges), on the frame grid."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

from reelmill.v1 import job_config_pb2 as cfg
from worker.errors import MaterialUnreadableError
from worker.plan.grid import ceil_grid, on_grid
from worker.plan.model import MediaFacts


@dataclass(frozen=True)
class Piece:
    """A part of a media that shots are taken from."""

    url: str
    start_s: Fraction
    length_s: Fraction | None  # None: a still, as long as wanted
    random_start: bool  # NoSplit: the shot may start anywhere in the piece
    end_s: Fraction = Fraction(0)  # where the usable range the piece lies in ends


Ranges = Mapping[tuple[str, str], list[tuple[Fraction, Fraction]]]  # by (group name or "", media URL)


def pieces_of(
    url: str,
    facts: Mapping[str, MediaFacts],
    ranges: Ranges,
    split: bool,
    shot_s: Fraction,
    fps: Fraction,
    group: str = "",
) -> list[Piece]:
    """AverageSplit: each usable range in n = ⌊length/SingleShotDuration⌋ equal pieces (one when
    shorter). NoSplit: each range one piece. Only the TimeRangeList ranges of a media, when given: those
    named for `group`, else those for every group."""
    f = facts[url]
    if f.is_image:
        return [Piece(url, Fraction(0), None, False)]
    out = []
    for a, b in ranges.get((group, url)) or ranges.get(("", url)) or [(Fraction(0), f.duration_s)]:
        a, b = ceil_grid(max(a, Fraction(0)), fps), min(b, f.duration_s)
        length = on_grid(b - a, fps)
        if length <= 0:
            continue
        n = max(1, math.floor(length / shot_s)) if split else 1
        bounds = [a + on_grid(length * k / n, fps) for k in range(n + 1)]
        out += [
            Piece(url, s, e - s, not split, a + length)
            for s, e in zip(bounds, bounds[1:], strict=False)
            if e > s
        ]
    if not out:
        raise MaterialUnreadableError(f"media {url}: no part of its TimeRangeList lies inside the media")
    return out


def ranges_of(mc: cfg.MediaConfig) -> dict[tuple[str, str], list[tuple[Fraction, Fraction]]]:
    out: dict[tuple[str, str], list[tuple[Fraction, Fraction]]] = {}
    for meta in mc.media_meta_data_array:
        out.setdefault((meta.group_name, meta.media), []).extend(
            (Fraction(str(getattr(r, "in"))), Fraction(str(r.out))) for r in meta.time_range_list
        )
    return out
