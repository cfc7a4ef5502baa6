"""Dataset statistics: counts, length distributions, duplicates, ties, categories, the longer-wins baseline, and the
data-quality section (annotator agreement, preference cycles: `rewardlab.data.quality`)."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import numpy as np

from rewardlab.data.quality import GRAPHS, QualitySpec, data_quality
from rewardlab.data.schema import Battle, KSampleSet, PreferencePair, Record, text_of
from rewardlab.errors import RewardlabError
from rewardlab.kinds import get_kind


def wilson_interval(k: float, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score 95% interval for a proportion k/n (k may be fractional when ties count 0.5)."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (float(centre - half), float(centre + half))


def describe(values: list[int] | np.ndarray) -> dict[str, float]:
    """Mean and percentiles of a length distribution."""
    a = np.asarray(values, dtype=float)
    if a.size == 0:
        return {}
    q = np.percentile(a, [5, 50, 90, 99])
    return {
        "mean": round(float(a.mean()), 2),
        "p5": float(q[0]),
        "p50": float(q[1]),
        "p90": float(q[2]),
        "p99": float(q[3]),
        "max": float(a.max()),
    }


def longer_wins(len_chosen: np.ndarray, len_rejected: np.ndarray) -> dict[str, float]:
    """Share of pairs where the longer response was preferred (equal lengths count 0.5), with a Wilson CI."""
    lc, lr = np.asarray(len_chosen), np.asarray(len_rejected)
    n = int(lc.size)
    k = float((lc > lr).sum() + 0.5 * (lc == lr).sum())
    lo, hi = wilson_interval(k, n)
    return {"rate": k / n if n else float("nan"), "ci_low": lo, "ci_high": hi, "n": n}


def _token_lengths(texts: list[str], tokenizer: Any) -> np.ndarray:
    if not texts:
        return np.zeros(0, dtype=int)
    enc = tokenizer(texts, add_special_tokens=False, truncation=False)["input_ids"]
    return np.array([len(x) for x in enc])


def pair_stats(pairs: list[PreferencePair], tokenizer: Any = None) -> dict[str, Any]:
    """Statistics of preference pairs; the longer-wins rate (chars, and tokens with a tokenizer) per category."""
    prompts = [text_of(p.prompt) for p in pairs]
    chosen = [text_of(p.chosen) for p in pairs]
    rejected = [text_of(p.rejected) for p in pairs]
    cats = [p.category or "(none)" for p in pairs]
    ties = np.array([p.tie for p in pairs])
    keys = [(pr, c, r) for pr, c, r in zip(prompts, chosen, rejected, strict=True)]
    dup_pairs = sum(n - 1 for n in Counter(keys).values() if n > 1)
    seen = set(keys)
    contradictory = sum(1 for pr, c, r in keys if (pr, r, c) in seen) // 2
    out: dict[str, Any] = {
        "kind": "pairs",
        "n_pairs": len(pairs),
        "n_unique_prompts": len(set(prompts)),
        "duplicate_pairs": dup_pairs,
        "contradictory_pairs": contradictory,
        "ties": int(ties.sum()),
        "with_soft_label": sum(p.label is not None and p.label not in (0.0, 1.0) for p in pairs),
        "with_margin": sum(p.margin is not None for p in pairs),
        "categories": dict(Counter(cats).most_common()),
        "conversational": sum(not isinstance(p.prompt, str) for p in pairs),
        "empty_responses": sum(not c.strip() for c in chosen) + sum(not r.strip() for r in rejected),
    }
    lens_c = np.array([len(c) for c in chosen])
    lens_r = np.array([len(r) for r in rejected])
    out["chars"] = {
        "prompt": describe([len(p) for p in prompts]),
        "chosen": describe(lens_c),
        "rejected": describe(lens_r),
    }
    tok_c = tok_r = None
    if tokenizer is not None:
        tok_c, tok_r = _token_lengths(chosen, tokenizer), _token_lengths(rejected, tokenizer)
        out["tokens"] = {
            "tokenizer": getattr(tokenizer, "name_or_path", str(type(tokenizer).__name__)),
            "prompt": describe(_token_lengths(prompts, tokenizer)),
            "chosen": describe(tok_c),
            "rejected": describe(tok_r),
        }
    # The length-only baseline: how often would "pick the longer response" agree with the label?
    keep = ~ties
    out["longer_wins"] = {"chars": longer_wins(lens_c[keep], lens_r[keep])}
    if tok_c is not None:
        out["longer_wins"]["tokens"] = longer_wins(tok_c[keep], tok_r[keep])
    by_cat: dict[str, list[int]] = defaultdict(list)
    for i, c in enumerate(cats):
        if keep[i]:
            by_cat[c].append(i)
    out["longer_wins_by_category"] = {
        c: longer_wins(lens_c[idx], lens_r[idx]) for c, idx in sorted(by_cat.items())
    }
    return out


def ksample_stats(sets: list[KSampleSet], tokenizer: Any = None) -> dict[str, Any]:
    """Statistics of K-wise sets: sizes, score ranges, correctness rate (`tokenizer` is not used)."""
    ks = [len(s.responses) for s in sets]
    out: dict[str, Any] = {
        "kind": "ksample",
        "n_sets": len(sets),
        "n_responses": int(sum(ks)),
        "k": describe(ks),
        "categories": dict(Counter(s.category or "(none)" for s in sets).most_common()),
        "response_chars": describe([len(r) for s in sets for r in s.responses]),
    }
    corr = [c for s in sets if s.correct for c in s.correct]
    if corr:
        out["correct_rate"] = float(np.mean(corr))
    return out


def battle_stats(battles: list[Battle], tokenizer: Any = None) -> dict[str, Any]:
    """Statistics of battles: systems, win/tie counts, the longer-wins rate among decided battles (`tokenizer` is
    not used)."""
    systems = Counter([b.model_a for b in battles] + [b.model_b for b in battles])
    winners = Counter(b.winner for b in battles)
    decided = [b for b in battles if b.winner in ("model_a", "model_b")]
    lw = np.array([len(b.response_a if b.winner == "model_a" else b.response_b) for b in decided])
    ll = np.array([len(b.response_b if b.winner == "model_a" else b.response_a) for b in decided])
    return {
        "kind": "battles",
        "n_battles": len(battles),
        "systems": dict(systems.most_common()),
        "winners": dict(winners),
        "categories": dict(Counter(b.category or "(none)" for b in battles).most_common()),
        "longer_wins": {"chars": longer_wins(lw, ll)},
    }


def data_stats(records: list[Record], tokenizer: Any = None, quality: QualitySpec | None = None) -> dict[str, Any]:
    """Statistics of the records, by their kind, with the data-quality section (annotator agreement and
    preference cycles, `rewardlab.data.quality`) under "quality".

    Args:
        records: validated records of one kind.
        tokenizer: counts token lengths of pairs when given.
        quality: options of the data-quality section (default QualitySpec()).
    Returns:
        A JSON-ready dict (`kind`, counts, lengths, longer-wins rates, `quality`); {"n": 0} without records.

    Example:
        >>> from rewardlab.data.schema import PreferencePair as P
        >>> s = data_stats([P("q", "long answer", "no", extra={"votes": [1, 1]})])
        >>> s["n_pairs"], s["quality"]["agreement"]["raw_agreement"]["estimate"]
        (1, 1.0)
    """
    if not records:
        return {"n": 0}
    kind = get_kind(records[0].kind)
    stats = kind.hook("stats")
    if stats is None:
        raise RewardlabError(f"record kind {kind.name!r} registers no statistics (its 'stats' hook)")
    out = stats(records, tokenizer)
    if kind.name in GRAPHS:  # the data-quality section knows the built-in kinds' judgements
        out["quality"] = data_quality(records, quality).to_dict()
    return out
