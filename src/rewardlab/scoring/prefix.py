"""Scoring many responses to one prompt with a decoder: the prompt is run once, its key/value cache reused.

Best-of-N, GRPO groups and K-sample evaluation score N responses per prompt. A plain batch runs prompt + response
N times; here responses are grouped by their rendered prompt ids, each distinct prompt runs once with a key/value
cache, and the N continuations run against the cache (`RewardModel.prompt_cache`, then
`RewardModel.continuation_logits`). Rewards equal the plain forward (tested to 1e-4). Prompts are batched longest
first under the token budget; the continuations of a prompt batch run in chunks sorted by length, so a long
response does not pad the short ones.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch

from rewardlab.batching import pad_batch, sorted_chunks
from rewardlab.runtime import autocast, model_device, to_device


def prefix_groups(enc: Sequence[dict[str, Any]]) -> tuple[list[tuple[list[int], list[int]]], list[int]]:
    """(groups, singles): groups of >= 2 items sharing their prompt ids, as (prefix ids, item indices); singles
    are items with no partner (or no prompt), left to the plain path.

    The shared prefix of an item is its rendered prompt, shortened so that at least one token of its own follows
    (a response rendered to nothing still ends with the template's tokens).
    """
    by_prefix: dict[tuple[int, ...], list[int]] = {}
    singles = []
    for i, e in enumerate(enc):
        s = min(int(e.get("prompt_len", 0)), len(e["input_ids"]) - 1)
        if s <= 0:
            singles.append(i)
            continue
        by_prefix.setdefault(tuple(e["input_ids"][:s]), []).append(i)
    groups = []
    for key, idx in by_prefix.items():
        if len(idx) >= 2:
            groups.append((list(key), idx))
        else:
            singles += idx
    return groups, sorted(singles)


def plan_batches(groups: list[tuple[list[int], list[int]]], enc: Sequence[dict[str, Any]], token_budget: int,
                 max_batch: int) -> list[tuple[list[int], list[list[int]]]]:
    """Prompt batches, longest prompts first (at most `token_budget` padded prompt tokens and `max_batch`
    prompts), each with its continuations in chunks sorted longest first: a chunk pads at most `token_budget`
    continuation tokens and gathers at most `token_budget` cached prompt positions, and has at most `max_batch`
    rows. Returns [(group indices, [item indices of each chunk])]."""
    order = sorted(range(len(groups)), key=lambda g: -len(groups[g][0]))
    prompt_batches = sorted_chunks([(g, len(groups[g][0])) for g in order], token_budget, max_batch)
    out: list[tuple[list[int], list[list[int]]]] = []
    for gs in prompt_batches:
        pmax = len(groups[gs[0]][0])
        items = sorted(((i, len(enc[i]["input_ids"]) - len(groups[g][0])) for g in gs for i in groups[g][1]),
                       key=lambda x: -x[1])
        out.append((gs, sorted_chunks(items, token_budget, max_batch, extra_per_row=pmax)))
    return out


def prefix_outputs(rm: Any, groups: list[tuple[list[int], list[int]]], enc: Sequence[dict[str, Any]], pad_id: int,
                   token_budget: int, max_batch: int, bf16: bool = False) -> Iterator[tuple[list[int], dict]]:
    """(item indices, `RewardModel.split` outputs) for every chunk: each prompt batch runs once into a key/value
    cache, then its continuations run against it chunk by chunk."""
    owner = {i: g for g, (_, idx) in enumerate(groups) for i in idx}
    dev = model_device(rm)
    for gs, chunks in plan_batches(groups, enc, token_budget, max_batch):
        slot = {g: j for j, g in enumerate(gs)}
        pb = to_device(pad_batch([groups[g][0] for g in gs], pad_id), dev)
        with autocast(dev, bf16):
            cache = rm.prompt_cache(pb["input_ids"], pb["attention_mask"])
            for chunk in chunks:
                cb = to_device(pad_batch([enc[i]["input_ids"][len(groups[owner[i]][0]) :] for i in chunk], pad_id),
                               dev)
                group = torch.tensor([slot[owner[i]] for i in chunk], dtype=torch.long, device=dev)
                logits = rm.continuation_logits(cache, cb["input_ids"], cb["attention_mask"], group)
                yield chunk, rm.split(logits)


__all__ = ["plan_batches", "prefix_groups", "prefix_outputs"]
