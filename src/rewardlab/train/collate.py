"""Tokenise preference pairs once through the Renderer and pad batches of [chosen; rejected] for one forward."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from rewardlab.batching import pad_batch
from rewardlab.data.schema import PreferencePair
from rewardlab.render import Renderer


def encode_pairs(renderer: Renderer, pairs: Sequence[PreferencePair],
                 anchors: Sequence[tuple[Sequence[float], Sequence[float]]] | None = None) -> list[dict[str, Any]]:
    """Render every pair (chosen and rejected) to ids with its label, margin, tie and optional anchor labels."""
    prompts = [p.prompt for p in pairs]
    enc_c = renderer.encode(prompts, [p.chosen for p in pairs])
    enc_r = renderer.encode(prompts, [p.rejected for p in pairs])
    out = []
    for i, (p, c, r) in enumerate(zip(pairs, enc_c, enc_r, strict=True)):
        ex: dict[str, Any] = {
            "idx": i,
            "chosen_ids": c["input_ids"],
            "rejected_ids": r["input_ids"],
            "label": 1.0 if p.label is None else float(p.label),
            "margin": 0.0 if p.margin is None else float(p.margin),
            "tie": bool(p.tie),
            "truncated": bool(c["truncated"] or r["truncated"]),
            # response lengths in tokens (untruncated), for the disentangled head's length terms
            "len_chosen": c["response_tokens"],
            "len_rejected": r["response_tokens"],
        }
        if "token_type_ids" in c:
            ex["chosen_tt"], ex["rejected_tt"] = c["token_type_ids"], r["token_type_ids"]
        if anchors is not None:
            ex["anchor_chosen"], ex["anchor_rejected"] = list(anchors[i][0]), list(anchors[i][1])
        out.append(ex)
    return out


@dataclass
class PairCollator:
    """Batch of B pairs -> one [2B, T] tensor (chosen rows first) plus per-pair columns."""

    pad_id: int
    side: str = "right"

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        seqs = [e["chosen_ids"] for e in examples] + [e["rejected_ids"] for e in examples]
        types = None
        if "chosen_tt" in examples[0]:
            types = [e["chosen_tt"] for e in examples] + [e["rejected_tt"] for e in examples]
        batch = pad_batch(seqs, self.pad_id, types, self.side)
        batch.update(pair_columns(examples))
        return batch


def pair_columns(examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Label, margin, tie, index, response-length and optional anchor columns of a batch of encoded pairs."""
    cols = {
        "label": torch.tensor([e["label"] for e in examples], dtype=torch.float32),
        "margin": torch.tensor([e["margin"] for e in examples], dtype=torch.float32),
        "tie": torch.tensor([e["tie"] for e in examples], dtype=torch.bool),
        "idx": torch.tensor([e["idx"] for e in examples], dtype=torch.long),
    }
    if "len_chosen" in examples[0]:
        cols["len_chosen"] = torch.tensor([e["len_chosen"] for e in examples], dtype=torch.float32)
        cols["len_rejected"] = torch.tensor([e["len_rejected"] for e in examples], dtype=torch.float32)
    if "anchor_chosen" in examples[0]:
        cols["anchor_chosen"] = torch.tensor([e["anchor_chosen"] for e in examples], dtype=torch.float32)
        cols["anchor_rejected"] = torch.tensor([e["anchor_rejected"] for e in examples], dtype=torch.float32)
    return cols
