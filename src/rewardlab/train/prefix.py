"""Prefix sharing for decoder reward models: each pair's prompt is encoded once, not twice.

TRL and OpenRLHF concatenate the prompt onto the chosen and onto the rejected response and run both, so every
prompt token is computed (forward and backward) twice. Here a batch of B pairs becomes B shared prefixes and 2B
continuations: `RewardModel.prefix_logits` runs the prefixes once with a key/value cache, gathers the cache for
the chosen and the rejected continuation of each pair, and runs the 2B continuations against it. Gradients flow
through the prefix pass once. The shared prefix is the longest common prefix of the two token sequences (the
rendered prompt, plus anything the two responses happen to share), always leaving each continuation at least one
token, so truncated pairs whose prompts were cut differently are still exact.

Only causal decoders qualify (`RewardModel.prefix_sharing_problem`): in an encoder the prompt attends to the
response, so its states differ between chosen and rejected and there is nothing to share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from rewardlab.train.collate import PairCollator, pad_batch, pair_columns


def shared_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the common prefix of two id lists, leaving at least one token in each continuation."""
    n = min(len(a), len(b)) - 1
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def split_pair(example: dict[str, Any]) -> tuple[list[int], list[int], list[int]]:
    """(shared prefix, chosen continuation, rejected continuation) ids of one encoded pair."""
    c, r = example["chosen_ids"], example["rejected_ids"]
    s = shared_prefix_len(c, r)
    return c[:s], c[s:], r[s:]


def prefix_cost(example: dict[str, Any]) -> tuple[int, int]:
    """(prefix length, longest continuation length): what a prefix-shared batch pads."""
    c, r = example["chosen_ids"], example["rejected_ids"]
    s = shared_prefix_len(c, r)
    return s, max(len(c), len(r)) - s


def prefix_sort_keys(examples: Sequence[dict[str, Any]]) -> list[int]:
    """A length key for the grouped sampler in prefix mode: tokens a pair costs, prefix once, continuations twice."""
    return [p + 2 * c for p, c in (prefix_cost(e) for e in examples)]


def can_share(examples: Sequence[dict[str, Any]]) -> bool:
    """Every pair has a non-empty shared prefix (else the batch runs the plain way)."""
    return all(shared_prefix_len(e["chosen_ids"], e["rejected_ids"]) > 0 for e in examples)


@dataclass
class PrefixPairCollator:
    """Batch of B pairs -> B right-padded prefixes and 2B right-padded continuations (chosen rows first).

    A batch in which some pair shares no prefix at all (its two sequences differ at the first token) falls back
    to the plain [chosen; rejected] layout of `PairCollator`, so the result is always exact.
    """

    pad_id: int

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        if "chosen_tt" in examples[0] or not can_share(examples):
            return PairCollator(self.pad_id)(examples)
        parts = [split_pair(e) for e in examples]
        b = len(examples)
        pb = pad_batch([p for p, _, _ in parts], self.pad_id)
        cb = pad_batch([c for _, c, _ in parts] + [r for _, _, r in parts], self.pad_id)
        batch = {
            "prompt_ids": pb["input_ids"],
            "prompt_mask": pb["attention_mask"],
            "cont_ids": cb["input_ids"],
            "cont_mask": cb["attention_mask"],
            "group": torch.arange(b).repeat(2),
        }
        batch.update(pair_columns(examples))
        return batch


def padded_tokens(examples: Sequence[dict[str, Any]], prefix: bool) -> int:
    """Tokens a batch computes, padding included: [2B, T] plain, or B prefixes + 2B continuations."""
    b = len(examples)
    if not prefix:
        return 2 * b * max(max(len(e["chosen_ids"]), len(e["rejected_ids"])) for e in examples)
    costs = [prefix_cost(e) for e in examples]
    return b * max(p for p, _ in costs) + 2 * b * max(c for _, c in costs)
