"""Range planning (pure): coalesce_ranges properties."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rasteret.errors import InvalidInputError
from rasteret.io.backend import MergedRange, coalesce_ranges

ranges = st.lists(
    st.tuples(st.integers(0, 5000), st.integers(0, 800)).map(lambda t: (t[0], t[0] + t[1])),
    max_size=30,
)


@given(ranges, st.integers(0, 2000), st.integers(1, 3000))
def test_plan_covers_every_range_once(
    pairs: list[tuple[int, int]], gap: int, max_size: int
) -> None:
    starts = [s for s, _ in pairs]
    ends = [e for _, e in pairs]
    plan = coalesce_ranges(starts, ends, gap=gap, max_size=max_size)
    served = [i for m in plan for i in m.members]
    assert sorted(served) == [i for i, (s, e) in enumerate(pairs) if e > s]
    for merged in plan:
        for i in merged.members:
            assert merged.start <= starts[i] and ends[i] <= merged.end
        assert merged.start == min(starts[i] for i in merged.members)
        assert merged.end == max(ends[i] for i in merged.members)
    for a, b in itertools.pairwise(plan):
        assert a.end < b.start  # sorted and disjoint
        # a neighbour left separate was either far, or would have made the request too big
        assert b.start - a.end >= gap or b.end - a.start > max_size


def test_examples() -> None:
    assert coalesce_ranges([0, 10, 100], [5, 20, 110], gap=50) == [
        MergedRange(start=0, end=20, members=(0, 1)),
        MergedRange(start=100, end=110, members=(2,)),
    ]
    assert coalesce_ranges([0, 10], [5, 20], gap=0) == [
        MergedRange(start=0, end=5, members=(0,)),
        MergedRange(start=10, end=20, members=(1,)),
    ]
    assert coalesce_ranges([5], [5]) == []


@pytest.mark.parametrize(("starts", "ends"), [([0], []), ([-1], [3]), ([4], [3])])
def test_rejects_bad_input(starts: list[int], ends: list[int]) -> None:
    with pytest.raises(InvalidInputError):
        coalesce_ranges(starts, ends)


@given(ranges, st.data())
def test_per_range_gaps_decide_from_the_range_reaching_furthest(
    pairs: list[tuple[int, int]], data: st.DataObject
) -> None:
    starts = [s for s, _ in pairs]
    ends = [e for _, e in pairs]
    gaps = data.draw(st.lists(st.integers(0, 2000), min_size=len(pairs), max_size=len(pairs)))
    plan = coalesce_ranges(starts, ends, gaps=gaps, max_size=10**9)
    assert sorted(i for m in plan for i in m.members) == [
        i for i, (s, e) in enumerate(pairs) if e > s
    ]
    for a, b in itertools.pairwise(plan):
        reaching = [i for i in a.members if ends[i] == a.end]
        assert b.start - a.end >= gaps[reaching[0]]  # the first to reach the end set the gap
    if not gaps:
        return
    same = coalesce_ranges(starts, ends, gaps=[gaps[0]] * len(pairs), max_size=10**9)
    assert same == coalesce_ranges(starts, ends, gap=gaps[0], max_size=10**9)


def test_a_prefix_is_not_merged_across_the_tail_it_skips() -> None:
    # tile A at 0-1000 fetched as a prefix 0-400; tile B starts right after A
    starts, ends = [0, 1000], [400, 1400]
    assert len(coalesce_ranges(starts, ends, gap=1 << 20)) == 1  # one rule: refetches A's tail
    assert coalesce_ranges(starts, ends, gap=1 << 20, gaps=[100, 1 << 20]) == [
        MergedRange(start=0, end=400, members=(0,)),
        MergedRange(start=1000, end=1400, members=(1,)),
    ]
    with pytest.raises(InvalidInputError, match="gaps"):
        coalesce_ranges(starts, ends, gaps=[1])
