"""Score whole records (pairs, K-sample sets, battles) and flatten to one row per response."""

from __future__ import annotations

from typing import Any

from rewardlab.data.schema import Battle, KSampleSet, PreferencePair, Record
from rewardlab.scoring.base import Scorer


def record_items(records: list[Record]) -> list[tuple[str, str, Any, Any]]:
    """(record id, role, prompt, response) for every response in the records."""
    items = []
    for i, r in enumerate(records):
        rid = r.id or str(i)
        if isinstance(r, PreferencePair):
            items += [(rid, "chosen", r.prompt, r.chosen), (rid, "rejected", r.prompt, r.rejected)]
        elif isinstance(r, KSampleSet):
            items += [(rid, f"response_{j}", r.prompt, resp) for j, resp in enumerate(r.responses)]
        elif isinstance(r, Battle):
            items += [(rid, "response_a", r.prompt, r.response_a), (rid, "response_b", r.prompt, r.response_b)]
    return items


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
