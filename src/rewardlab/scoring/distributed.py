"""Scoring across processes: under `torchrun` or `accelerate launch`, each process scores a contiguous share of
the items on its own device, and the shares are gathered back in input order.

The launcher starts the processes and accelerate's `PartialState` sets up torch.distributed (gloo on CPUs, NCCL on
GPUs) and this process's device; the only thing done here is deciding which items each process scores and putting
the answers back together. Shares are contiguous and their boundaries move to the next change of prompt, so the
responses to one prompt stay in one process and prefix sharing keeps working.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rewardlab.data.schema import Text
from rewardlab.runtime import logger, world
from rewardlab.scoring.base import Scorer
from rewardlab.scoring.memo import MemoScorer
from rewardlab.scoring.output import RewardOutput


def init_distributed(device: str | None = None) -> Any:
    """Start (or join) the launcher's process group through accelerate; returns the `PartialState`, or None in a
    plain single-process run (nothing is initialised then).

    Args:
        device: the requested device; 'cpu' makes every process use the CPU (gloo), anything else lets
            accelerate give each process its own GPU when there are GPUs.

    Returns:
        accelerate.PartialState or None.
    """
    if world()[1] <= 1:
        return None
    from accelerate import PartialState

    return PartialState(cpu=(device or "").startswith("cpu"))


def finish_distributed() -> None:
    """Leave the launcher's process group cleanly (a barrier, then destroy it); nothing in a single process.

    Call it on every process once the collective work is done: a process that exits while its group is still
    up can be aborted by the gloo/NCCL threads ('terminate called without an active exception')."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def shard_bounds(prompts: Sequence[Text], n_shards: int) -> list[int]:
    """Cut points [0, c1, ..., n] of `n_shards` contiguous shares of about equal size.

    Each inner cut moves forward to the next change of prompt when there is one before the next share's nominal
    end, so the responses to one prompt land in one share (prefix sharing stays effective).

    Example:
        >>> shard_bounds(["a", "a", "a", "b", "b", "c"], 2)
        [0, 3, 6]
    """
    n = len(prompts)
    keys = [p if isinstance(p, str) else repr(p) for p in prompts]
    cuts = [0]
    for r in range(1, n_shards):
        target = max(cuts[-1], round(r * n / n_shards))
        limit = min(n, round((r + 1) * n / n_shards))
        c = target
        while 0 < c < limit and keys[c] == keys[c - 1]:
            c += 1
        cuts.append(c if c < limit else target)
    cuts.append(n)
    return cuts


class ShardedScorer:
    """A Scorer that splits each `score` call across the processes of a launcher run and gathers the rewards on
    every process, in input order; in a single process it is the wrapped scorer.

    Every process must call `score` with the same items in the same order (they all read the same data).

    Example:
        >>> # torchrun --nproc_per_node 2 -m rewardlab score --model runs/rm --data pairs.jsonl -o scores.jsonl
        >>> from rewardlab.scoring import CallableScorer
        >>> ShardedScorer(CallableScorer(lambda p, r: len(r))).score(["q", "q"], ["a", "bb"]).mean.tolist()
        [1.0, 2.0]
    """

    def __init__(self, inner: Scorer):
        self.inner = inner
        self.name = inner.name

    def __getattr__(self, item: str) -> Any:  # loaded, device, ... of the wrapped scorer
        return getattr(self.__dict__["inner"], item)

    def score(self, prompts: Sequence[Text], responses: Sequence[Text], progress: bool = True) -> RewardOutput:
        rank, size = world()
        if size <= 1:
            return self.inner.score(prompts, responses, progress=progress)
        import torch.distributed as dist

        cuts = shard_bounds(prompts, size)
        lo, hi = cuts[rank], cuts[rank + 1]
        if hi > lo:
            out = self.inner.score(list(prompts[lo:hi]), list(responses[lo:hi]), progress=progress and rank == 0)
            part = (out.mean, out.std, out.members)
        else:
            part = None
        parts: list[Any] = [None] * size
        dist.all_gather_object(parts, part)
        got = [p for p in parts if p is not None]
        if rank == 0:
            shares = ", ".join(str(cuts[i + 1] - cuts[i]) for i in range(size))
            logger.info(f"scored {len(prompts)} responses across {size} processes (shares: {shares})")
        if not got:
            return RewardOutput(np.zeros(0))
        mean = np.concatenate([p[0] for p in got])
        std = None if any(p[1] is None for p in got) else np.concatenate([p[1] for p in got])
        members = None if any(p[2] is None for p in got) else np.concatenate([p[2] for p in got])
        return RewardOutput(mean, std, members)


def prescore(scorer: Scorer, items: Sequence[tuple[Text, Text]], progress: bool = True) -> MemoScorer:
    """Score every distinct (prompt, response) of `items` once, split across the launcher's processes, and
    return a scorer that answers from that table on every process (for commands such as `eval` that score
    several datasets and then compute statistics on one process).

    Args:
        scorer: the model's scorer on this process's device.
        items: (prompt, response) pairs, in the same order on every process.
        progress: show a progress bar (on rank 0).

    Returns:
        MemoScorer: the table, with `scorer` behind it for anything not in the table.
    """
    from rewardlab.scoring.base import item_key

    distinct: dict[str, tuple[Text, Text]] = {}  # first occurrences, in order (a chat turn list has no hash)
    for p, r in items:
        distinct.setdefault(item_key(p, r), (p, r))
    prompts, responses = [p for p, _ in distinct.values()], [r for _, r in distinct.values()]
    memo = MemoScorer(scorer)
    memo.remember(prompts, responses, ShardedScorer(scorer).score(prompts, responses, progress=progress))
    return memo


__all__ = ["ShardedScorer", "finish_distributed", "init_distributed", "prescore", "shard_bounds"]
