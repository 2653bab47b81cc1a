"""Variety across a batch: how many variants can differ, and which sequence of pool pieces each starts
with so that no two variants of a Smart_Mix batch begin alike (while the pool allows)."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TypeVar

from reelmill import design, jobspec
from reelmill.v1 import render_pb2
from worker.plan.model import MediaFacts
from worker.plan.pieces import pieces_of, ranges_of

T = TypeVar("T")


def distinct_variants(cmd: render_pb2.RenderCommand, facts: Mapping[str, MediaFacts]) -> int:
    """How many of the batch's cmd.count variants can have pairwise different plans.

    Script: the batch design gives each variant a combination of choices (reelmill/design.py); variants
    sharing a combination differ by the pieces they start their groups with, as long as the chosen
    media split into enough pieces. Smart_Mix: the choices, times the sequences of distinct pieces of
    the pool the variants start with.
    """
    count = max(cmd.count, 1)
    ic, spec = cmd.input_config, jobspec.of_command(cmd)
    shot_s, fps = spec.timing.single_shot_s, spec.output.fps
    ranges = ranges_of(cmd.editing_config.media_config)
    dims = design.dimensions(ic, spec)
    picks = design.batch(tuple(n for _, n in dims), cmd.seed, count)
    users = Counter(p.options for p in picks)
    if ic.media_group_array:
        groups = [list(g.media_array) for g in ic.media_group_array]
        splits, names = spec.timing.group_splits, [g.group_name for g in ic.media_group_array]
        distinct = 0
        for options, n in users.items():
            pieces = math.prod(
                len(pieces_of(g[options[i]], facts, ranges, split, shot_s, fps, name))
                for i, (g, split, name) in enumerate(zip(groups, splits, names, strict=True))
            )  # the group dimensions come first
            distinct += min(n, pieces)
        return distinct
    split = spec.timing.pool_split
    pool = [p for u in dict.fromkeys(ic.media_array) for p in pieces_of(u, facts, ranges, split, shot_s, fps)]
    starts = falling(len(pool), min(len(pool), prefix_length(len(pool), count)))
    return sum(min(n, starts) for n in users.values())


def pool_start(pool: Sequence[T], seed: int, index: int, count: int) -> tuple[list[T], list[T]]:
    """Variant `index`'s first pieces of the pool and the rest: the pool in a seeded order, whose first
    few (enough to number `count` orderings) are variant `index`'s own arrangement."""
    base = random.Random(f"{seed}:pool").sample(list(pool), len(pool))
    m = min(len(base), prefix_length(len(base), max(count, 1)))
    total = falling(len(base), m)
    rng = random.Random(f"{seed}:pool-order")
    offset = rng.randrange(total)
    stride = rng.randrange(1, total) if total > 1 else 1
    while math.gcd(stride, total) != 1:
        stride += 1
    number = (offset + index * stride) % total
    remaining, first = list(base), []
    for j in range(m):
        number, digit = divmod(number, len(base) - j)
        first.append(remaining.pop(digit))
    return first, remaining


def prefix_length(pool: int, count: int) -> int:
    """The fewest leading shots whose orderings number at least `count`."""
    m, total = 0, 1
    while total < count and m < pool:
        total *= pool - m
        m += 1
    return max(m, 1)


def falling(n: int, m: int) -> int:
    return math.prod(range(n - m + 1, n + 1)) if m > 0 else 1
