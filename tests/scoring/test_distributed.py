"""Scoring across processes: shares cover every item once, keep each prompt's responses together, and the
gathered rewards come back in input order (single-process parts here; two real processes in tests/test_cli.py)."""

from __future__ import annotations

import numpy as np
import pytest

from rewardlab.scoring import CallableScorer, MemoScorer, ShardedScorer, prescore
from rewardlab.scoring.distributed import shard_bounds


@pytest.mark.parametrize("seed", range(20))
def test_shard_bounds_cover_items_and_do_not_split_prompts(seed):
    rng = np.random.default_rng(seed)
    world = int(rng.integers(2, 5))
    n_prompts = int(rng.integers(8, 40))
    max_group = 3
    prompts = [f"p{i}" for i in range(n_prompts) for _ in range(int(rng.integers(1, max_group + 1)))]
    cuts = shard_bounds(prompts, world)
    n = len(prompts)
    assert cuts[0] == 0 and cuts[-1] == n and len(cuts) == world + 1
    assert all(a <= b for a, b in zip(cuts, cuts[1:], strict=False))
    assert sorted(i for a, b in zip(cuts, cuts[1:], strict=False) for i in range(a, b)) == list(range(n))
    if n / world >= 2 * max_group:  # room for a prompt change inside every share: no prompt is split
        assert all(prompts[c] != prompts[c - 1] for c in cuts[1:-1] if 0 < c < n)
    sizes = np.diff(cuts)
    assert sizes.max() - sizes.min() <= 2 * max_group  # about equal shares


def test_shard_bounds_edge_cases():
    assert shard_bounds([], 3) == [0, 0, 0, 0]
    assert shard_bounds(["a"], 2) == [0, 1, 1] or shard_bounds(["a"], 2) == [0, 0, 1]
    assert shard_bounds(["a"] * 6, 2) == [0, 3, 6]  # one prompt: no change to move to, cut where it falls


def _length_scorer(calls):
    def f(prompts, responses):
        calls.append(len(responses))
        return [len(p) + 10 * len(r) for p, r in zip(prompts, responses, strict=True)]

    return CallableScorer(f, name="len")


def test_sharded_scorer_is_the_scorer_in_one_process():
    calls: list[int] = []
    inner = _length_scorer(calls)
    ps, rs = ["a", "bb", "a"], ["x", "yy", "zzz"]
    out = ShardedScorer(inner).score(ps, rs)
    np.testing.assert_array_equal(out.mean, [11, 22, 31])
    assert ShardedScorer(inner).name == "len"


def test_prescore_scores_each_distinct_item_once_and_answers_from_the_table():
    calls: list[int] = []
    inner = _length_scorer(calls)
    items = [("a", "x"), ("a", "x"), ("b", "yy"), ("a", "zzz")]
    cached = prescore(inner, items, progress=False)
    assert isinstance(cached, MemoScorer) and calls == [3]
    out = cached.score(["b", "a", "a"], ["yy", "x", "zzz"])
    np.testing.assert_array_equal(out.mean, [21, 11, 31])
    assert calls == [3]  # from the table
    out = cached.score(["a", "c"], ["x", "new"])  # an item outside the table goes to the model
    np.testing.assert_array_equal(out.mean, [11, 31])
    assert calls == [3, 1]
