"""Memoised scoring: the reward of every distinct (prompt, response) computed once and answered from a table.

One mechanism serves every place that scores the same items twice:

- `MemoScorer` wraps any Scorer: `rewardlab eval`'s table precomputed across processes (`prescore`), the demo's
  stages (the audit scores responses its pair stage scored), and anything a user scores repeatedly;
- `RewardTable` is the table itself (rows of mean, std and member rewards by key, hit and miss counts), which the
  policy loop's rewards keep per ensemble member, keyed by (prompt, text) so that checkpoints store it as is.

Example:
    >>> from rewardlab.scoring import CallableScorer, MemoScorer
    >>> calls = []
    >>> def length(prompts, responses):
    ...     calls.append(len(responses))
    ...     return [float(len(r)) for r in responses]
    >>> memo = MemoScorer(CallableScorer(length))
    >>> memo.score(["q", "q", "q"], ["a", "bb", "a"]).mean.tolist()
    [1.0, 2.0, 1.0]
    >>> memo.score(["q"], ["bb"]).mean.tolist(), calls, memo.hits
    ([2.0], [2], 2)
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from rewardlab.data.schema import Text
from rewardlab.scoring.output import RewardOutput

Row = tuple[float, float | None, tuple[float, ...] | None]


def output_rows(out: Any, n: int) -> list[Row]:
    """The n rows (mean, std or None, member rewards or None) of a scorer's output.

    Args:
        out: a RewardOutput, or anything with `mean` and optional `std` and `members` attributes.
        n: the number of items scored.

    Returns:
        list[Row]: one (float, float | None, tuple | None) per item.
    """
    mean = np.asarray(out.mean, dtype=float).reshape(-1)
    std = getattr(out, "std", None)
    mem = getattr(out, "members", None)
    std = None if std is None else np.asarray(std, dtype=float).reshape(-1)
    mem = None if mem is None else np.asarray(mem, dtype=float).reshape(n, -1)
    return [(float(mean[i]), None if std is None else float(std[i]),
             None if mem is None else tuple(float(x) for x in mem[i])) for i in range(n)]


def rows_output(rows: Sequence[Row]) -> RewardOutput:
    """RewardOutput of table rows; std and members only where every row has them."""
    std = None if not rows or any(r[1] is None for r in rows) else np.array([r[1] for r in rows])
    mem = None if not rows or any(r[2] is None for r in rows) else np.array([r[2] for r in rows])
    return RewardOutput(np.array([r[0] for r in rows], dtype=float).reshape(-1), std, mem)


class RewardTable:
    """Rewards by key: which keys are missing, storing newly scored rows, answering rows, and the counts.

    `hits` counts items answered from the table, `misses` the distinct items that had to be scored.
    """

    def __init__(self, rows: dict[Hashable, Row] | None = None):
        self.rows: dict[Hashable, Row] = dict(rows or {})
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self.rows)

    def missing(self, keys: Sequence[Hashable]) -> list[int]:
        """Index of the first occurrence of each distinct key not in the table; counts the rest as hits."""
        first: dict[Hashable, int] = {}
        for i, k in enumerate(keys):
            if k not in self.rows:
                first.setdefault(k, i)
        self.hits += len(keys) - len(first)
        self.misses += len(first)
        return list(first.values())

    def store(self, keys: Sequence[Hashable], rows: Sequence[Row]) -> None:
        self.rows.update(zip(keys, rows, strict=True))

    def output(self, keys: Sequence[Hashable]) -> RewardOutput:
        return rows_output([self.rows[k] for k in keys])

    def clear(self) -> None:
        """Forget every row (the model behind them changed); the counts stay."""
        self.rows.clear()


class MemoScorer:
    """A Scorer that scores each distinct (prompt, response) once, through the wrapped scorer, and answers
    repeats from its table (`hits` counts those). Attributes it lacks (`loaded`, `device`, ...) are the wrapped
    scorer's.

    Args:
        inner: the scorer to memoise.
        table: a precomputed table keyed by `rewardlab.scoring.item_key` (see `prescore`).

    Example:
        >>> from rewardlab.scoring import CallableScorer
        >>> memo = MemoScorer(CallableScorer(lambda prompt, response: 1.0))
        >>> memo.score(["p", "p"], ["x", "x"]).mean.tolist(), memo.hits, memo.misses
        ([1.0, 1.0], 1, 1)
    """

    def __init__(self, inner: Any, table: RewardTable | None = None):
        self.inner = inner
        self.name = inner.name
        self.table = table if table is not None else RewardTable()

    def __getattr__(self, item: str) -> Any:
        return getattr(self.__dict__["inner"], item)

    @property
    def hits(self) -> int:
        return self.table.hits

    @property
    def misses(self) -> int:
        return self.table.misses

    def remember(self, prompts: Sequence[Text], responses: Sequence[Text], out: Any) -> None:
        """Store rewards computed elsewhere for these items (no counts change)."""
        from rewardlab.scoring.base import item_key

        keys = [item_key(p, r) for p, r in zip(prompts, responses, strict=True)]
        self.table.store(keys, output_rows(out, len(keys)))

    def score(self, prompts: Sequence[Text], responses: Sequence[Text], progress: bool = True) -> RewardOutput:
        """Rewards of each (prompts[i], responses[i]), in order: from the table, the rest scored once each."""
        from rewardlab.scoring.base import item_key

        keys = [item_key(p, r) for p, r in zip(prompts, responses, strict=True)]
        todo = self.table.missing(keys)
        if todo:
            out = self.inner.score([prompts[i] for i in todo], [responses[i] for i in todo], progress=progress)
            self.table.store([keys[i] for i in todo], output_rows(out, len(todo)))
        return self.table.output(keys)


__all__ = ["MemoScorer", "RewardTable", "output_rows", "rows_output"]
