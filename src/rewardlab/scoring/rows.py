"""Score whole records (pairs, K-sample sets, battles) and flatten to one row per response."""

from __future__ import annotations

from typing import Any

from rewardlab.data.schema import Record
from rewardlab.scoring.base import Scorer


def record_items(records: list[Record]) -> list[tuple[str, str, Any, Any]]:
    """(record id, role, prompt, response) for every response in the records."""
    return [(r.id or str(i), role, r.prompt, response) for i, r in enumerate(records)
            for role, response in r.responses_to_score()]


def score_records(scorer: Scorer, records: list[Record], progress: bool = True) -> list[dict[str, Any]]:
    """One row per response: {id, role, prompt, response, reward[, std, members]}."""
    items = record_items(records)
    out = scorer.score([it[2] for it in items], [it[3] for it in items], progress=progress)
    rows = []
    for k, (rid, role, p, resp) in enumerate(items):
        row: dict[str, Any] = {"id": rid, "role": role, "prompt": p, "response": resp, "reward": float(out.mean[k])}
        if out.std is not None:
            row["std"] = float(out.std[k])
        if out.members is not None:
            row["members"] = [float(x) for x in out.members[k]]
        rows.append(row)
    return rows
