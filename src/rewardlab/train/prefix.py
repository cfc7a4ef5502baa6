"""Packed pairs and prefix sharing: the chosen and the rejected sequence of a pair in one row, the prompt once.

TRL and OpenRLHF concatenate the prompt onto the chosen and onto the rejected response and run the two as
separate rows of a [2B, T] batch padded to its longest member: every prompt token is computed (forward and
backward) twice, and the shorter sequence of each pair is padded to the longer. Here each pair is one row:

- decoders (causal attention): `prefix | chosen continuation | rejected continuation`. The prefix is the longest
  common prefix of the two token sequences (the rendered prompt plus anything the responses share), always
  leaving each continuation at least one token. The attention mask lets each continuation see the prefix and its
  own earlier tokens, never the other continuation; positions of both continuations start where the prefix ends.
  So the prompt is computed once per pair and gradients flow through it once.
- encoders (bidirectional attention, e.g. MiniLM): `chosen | rejected`, each attending only to itself, with its own
  positions and token types. Nothing is shared (the prompt sees the response), but no pair pads its shorter
  sequence to the longer one.

Rows are padded to the longest row of the batch, and the grouped sampler orders by packed row length. Each reward
equals the plain forward on the unpacked sequence (`RewardModel.packed_logits`, tested to 1e-4).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from rewardlab.train.collate import PairCollator, pair_columns


def shared_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the common prefix of two id lists, leaving at least one token in each continuation."""
    n = min(len(a), len(b)) - 1
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def pack_pair(example: dict[str, Any], share_prefix: bool) -> dict[str, list[int]]:
    """One packed row of an encoded pair: ids, segment ids (0 prefix, 1 chosen, 2 rejected), positions, types."""
    c, r = example["chosen_ids"], example["rejected_ids"]
    s = shared_prefix_len(c, r) if share_prefix else 0
    row = {
        "ids": c + r[s:],
        "seg": [0] * s + [1] * (len(c) - s) + [2] * (len(r) - s),
        "pos": list(range(len(c))) + list(range(s, len(r))),
    }
    if "chosen_tt" in example:
        row["tt"] = example["chosen_tt"] + example["rejected_tt"][s:]
    return row


def packed_length(example: dict[str, Any], share_prefix: bool) -> int:
    """Tokens of the packed row of one pair."""
    c, r = example["chosen_ids"], example["rejected_ids"]
    return len(c) + len(r) - (shared_prefix_len(c, r) if share_prefix else 0)


@dataclass
class PackedPairCollator:
    """Batch of B pairs -> B packed rows [B, T] (right-padded) plus per-pair columns.

    Keys: input_ids, segment_ids (-1 = padding), position_ids, token_type_ids (when the tokenizer has them) and
    the columns of `PairCollator`. `RewardTrainingModule` sends such batches through `packed_logits`.
    """

    pad_id: int
    share_prefix: bool = True

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        rows = [pack_pair(e, self.share_prefix) for e in examples]
        t = max(len(r["ids"]) for r in rows)
        b = len(rows)
        ids = torch.full((b, t), self.pad_id, dtype=torch.long)
        seg = torch.full((b, t), -1, dtype=torch.long)
        pos = torch.zeros((b, t), dtype=torch.long)
        tt = torch.zeros((b, t), dtype=torch.long) if "tt" in rows[0] else None
        for i, r in enumerate(rows):
            n = len(r["ids"])
            ids[i, :n] = torch.tensor(r["ids"])
            seg[i, :n] = torch.tensor(r["seg"])
            pos[i, :n] = torch.tensor(r["pos"])
            if tt is not None:
                tt[i, :n] = torch.tensor(r["tt"])
        batch = {"input_ids": ids, "segment_ids": seg, "position_ids": pos}
        if tt is not None:
            batch["token_type_ids"] = tt
        batch.update(pair_columns(examples))
        return batch


def padded_tokens(examples: Sequence[dict[str, Any]], layout: str) -> int:
    """Tokens a batch computes, padding included: 'plain' [2B, T], 'packed' or 'prefix' (packed, prompt once)."""
    if layout == "plain":
        return 2 * len(examples) * max(max(len(e["chosen_ids"]), len(e["rejected_ids"])) for e in examples)
    return len(examples) * max(packed_length(e, layout == "prefix") for e in examples)


__all__ = ["PackedPairCollator", "PairCollator", "pack_pair", "packed_length", "padded_tokens",
           "shared_prefix_len"]
