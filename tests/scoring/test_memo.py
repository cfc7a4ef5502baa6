"""MemoScorer and RewardTable: each distinct (prompt, response) is scored once, answers keep the input order, and
uncertainty columns survive the table; the reference is the wrapped scorer called directly."""

from __future__ import annotations

import numpy as np
import pytest

from rewardlab.scoring import MemoScorer, RewardOutput, RewardTable
from rewardlab.scoring.memo import output_rows, rows_output


class _Counting:
    name = "count"

    def __init__(self, members: bool = False):
        self.scored: list = []
        self.loaded = "the wrapped scorer's model"
        self.members = members

    def score(self, prompts, responses, progress=True):
        self.scored += list(responses)
        mean = [float(len(str(p)) + 10 * len(r)) for p, r in zip(prompts, responses, strict=True)]
        mem = np.stack([np.asarray(mean) - 1, np.asarray(mean) + 1], axis=1) if self.members else None
        return RewardOutput(mean, std=[0.5] * len(responses), members=mem)


def test_each_distinct_item_is_scored_once_in_order():
    inner = _Counting()
    memo = MemoScorer(inner)
    first = memo.score(["p", "p", "q"], ["aa", "b", "aa"])
    np.testing.assert_array_equal(first.mean, inner.score(["p", "p", "q"], ["aa", "b", "aa"]).mean)
    inner.scored.clear()
    again = memo.score(["q", "p", "p", "p"], ["aa", "ccc", "aa", "ccc"])
    np.testing.assert_array_equal(again.mean, [21.0, 31.0, 21.0, 31.0])
    assert inner.scored == ["ccc"]  # (q, aa) and (p, aa) are in the table; (p, ccc) ran once
    assert (memo.hits, memo.misses) == (3, 4)  # three distinct items, then 3 of 4 answered from the table
    assert memo.loaded == inner.loaded and memo.name == "count"
    assert memo.score([], []).mean.shape == (0,)


def test_remembered_rewards_answer_without_the_model_and_chat_prompts_work():
    inner = _Counting(members=True)
    chat = [{"role": "user", "content": "hi"}]  # a conversation: a list, which has no hash
    memo = MemoScorer(inner)
    memo.remember([chat, "p"], ["x", "y"], RewardOutput([7.0, 8.0], std=[0.1, 0.2], members=[[6, 8], [7, 9]]))
    out = memo.score(["p", chat], ["y", "x"])
    assert inner.scored == [] and out.mean.tolist() == [8.0, 7.0]
    assert out.std.tolist() == [0.2, 0.1] and out.members.tolist() == [[7, 9], [6, 8]]
    out = memo.score([chat, "z"], ["x", "new"])  # one remembered, one scored
    assert inner.scored == ["new"] and out.mean.tolist() == [7.0, 31.0] and out.members.shape == (2, 2)


def test_rows_round_trip_and_columns_only_where_every_row_has_them():
    out = RewardOutput([1.0, 2.0], std=[0.3, 0.4], members=[[0.5, 1.5], [1.0, 3.0]])
    rows = output_rows(out, 2)
    back = rows_output(rows)
    np.testing.assert_array_equal(back.mean, out.mean)
    np.testing.assert_array_equal(back.std, out.std)
    np.testing.assert_array_equal(back.members, out.members)
    mixed = rows_output([rows[0], (3.0, None, None)])
    assert mixed.std is None and mixed.members is None and mixed.mean.tolist() == [1.0, 3.0]


def test_table_counts_and_clear():
    t = RewardTable()
    keys = [("p", "a"), ("p", "b"), ("p", "a")]
    todo = t.missing(keys)
    assert todo == [0, 1] and (t.hits, t.misses) == (1, 2)
    t.store([keys[i] for i in todo], [(1.0, None, None), (2.0, None, None)])
    assert t.output(keys).mean.tolist() == [1.0, 2.0, 1.0] and len(t) == 2
    t.clear()
    assert len(t) == 0 and t.missing(keys) == [0, 1] and (t.hits, t.misses) == (2, 4)
    with pytest.raises(KeyError):
        t.output(keys)
