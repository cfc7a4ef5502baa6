"""Padding and length / token-budget batching, shared by training and scoring (a leaf: it imports no stage).

Sequences are padded to the longest in their batch, never beyond; batches are cut from sequences sorted by
length so that padding stays small, and sized by a token budget rather than a fixed row count.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def pad(seqs: list[list[int]], value: int, side: str = "right") -> torch.Tensor:
    """Pad lists of ids to the longest one (never beyond the batch maximum)."""
    n = max(len(s) for s in seqs)
    out = torch.full((len(seqs), n), value, dtype=torch.long)
    for i, s in enumerate(seqs):
        if side == "right":
            out[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        else:
            out[i, n - len(s) :] = torch.tensor(s, dtype=torch.long)
    return out


def pad_batch(seqs: list[list[int]], pad_id: int, types: list[list[int]] | None = None,
              side: str = "right") -> dict[str, torch.Tensor]:
    """input_ids, attention_mask (and token_type_ids) for a list of sequences."""
    ids = pad(seqs, pad_id, side)
    mask = pad([[1] * len(s) for s in seqs], 0, side)
    batch = {"input_ids": ids, "attention_mask": mask}
    if types is not None:
        batch["token_type_ids"] = pad(types, 0, side)
    return batch


def length_batches(lengths: Sequence[int], token_budget: int, max_batch: int, min_tokens: int = 1024,
                   min_fill: float = 0.8) -> list[list[int]]:
    """Indices grouped longest-first into batches of at most `token_budget` padded tokens and `max_batch` rows.

    A batch also ends where the next sequence is shorter than `min_fill` of the batch's longest, once it holds
    `min_tokens` padded tokens: so at least `min_fill` of a batch is real tokens, without tiny batches."""
    order = np.argsort([-n for n in lengths], kind="stable")
    return sorted_chunks([(int(i), int(lengths[i])) for i in order], token_budget, max_batch, min_tokens, min_fill)


def sorted_chunks(items: Sequence[tuple[int, int]], token_budget: int, max_batch: int, min_tokens: int = 1024,
                  min_fill: float = 0.8, extra_per_row: int = 0) -> list[list[int]]:
    """Cut (index, length) items sorted longest first into batches (see `length_batches`); `extra_per_row`
    tokens (e.g. a cached prompt every row attends to) count toward the budget of each row."""
    batches, cur = [], []
    top = 0
    for i, n in items:
        rows = len(cur) + 1
        if cur and (rows * (top + extra_per_row) > token_budget or len(cur) >= max_batch
                    or (n < min_fill * top and len(cur) * top >= min_tokens)):
            batches.append(cur)
            cur = []
        if not cur:
            top = n
        cur.append(i)
    if cur:
        batches.append(cur)
    return batches


__all__ = ["length_batches", "pad", "pad_batch", "sorted_chunks"]
