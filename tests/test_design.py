"""The batch design: distinct combinations while they last, options and pairs of options spread evenly,
the same seed the same batch (reelmill/design.py)."""

from __future__ import annotations

from collections import Counter
from itertools import combinations as pairs_of

import pytest

from reelmill.design import batch, combinations, pick


@pytest.mark.parametrize(
    "sizes, count",
    [((2, 2, 2, 2), 16), ((3, 3, 2, 2), 20), ((2, 3), 20), ((3, 3, 2, 2, 2, 2, 4), 100),
     ((10, 10, 10, 10), 100), ((1, 4, 0, 2), 9), ((), 3)],
)  # fmt: skip
def test_distinct_while_combinations_last_and_every_option_evenly_used(
    sizes: tuple[int, ...], count: int
) -> None:
    picks = batch(sizes, 10, count)
    combos = [p.options for p in picks]
    total = combinations(sizes)
    assert len(set(combos)) == min(count, total)
    # Past the combinations, each is used again in turn, and the round says how often before.
    assert [p.round for p in picks] == [combos[:i].count(c) for i, c in enumerate(combos)]
    assert max(p.round for p in picks) == (count - 1) // total
    for d, n in enumerate(sizes):
        uses = Counter(c[d] for c in combos)
        if n <= 1:
            assert set(uses) == {0}
        else:
            assert set(uses) == set(range(n)) if count >= n else len(uses) == count
            assert max(uses.values()) - min(uses.values()) <= 1


def test_pairs_of_options_are_spread_too_never_in_lock_step() -> None:
    """Titles, texts, clips of two groups: 2 options each. Within the first 8 variants every pair of
    options of every two dimensions is used twice (a lock-step rotation uses half of them 4 times)."""
    combos = [p.options for p in batch((2, 2, 2, 2), 3, 8)]
    for a, b in pairs_of(range(4), 2):
        assert Counter((c[a], c[b]) for c in combos) == {(x, y): 2 for x in (0, 1) for y in (0, 1)}


def test_same_seed_same_batch_and_each_variant_alone_agrees() -> None:
    sizes = (3, 2, 4, 2)
    assert batch(sizes, 5, 30) == batch(sizes, 5, 30)
    assert batch(sizes, 5, 30) != batch(sizes, 6, 30)
    assert [pick(sizes, 5, i) for i in range(30)] == list(batch(sizes, 5, 30))


def test_variants_sharing_an_option_know_how_many_took_it_before() -> None:
    picks = batch((2, 1), 1, 6)
    # The second dimension has one option: every variant takes it. Its spread counts the variants
    # before the first use of each combination; later uses of a combination count by their round.
    assert [p.spread[1] for p in picks] == [0, 1, 0, 1, 0, 1]
    assert [p.round for p in picks] == [0, 0, 1, 1, 2, 2]
