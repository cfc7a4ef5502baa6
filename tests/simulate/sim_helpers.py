"""Shared helpers for the simulator tests: an independent re-implementation of the annotator formula and
statistical interval checks (kept separate from the package code on purpose, so the tests do not trust it)."""

from __future__ import annotations

import math
import re

import numpy as np

Z99 = 2.5758293035489004  # two-sided 99% normal quantile

SENT_SPLIT = re.compile(r"(?:(?<=[.!?])|(?<=[.!?]\*\*))\s+")


def words(text: str) -> int:
    """Length in whitespace-separated words, as documented for the length bias."""
    return len(text.split())


def logit_of(rec: dict, cfg, first: str = "chosen", second: str = "rejected") -> float:
    """z for (first preferred over second) of a pair record, recomputed from its texts and attributes."""
    a, b = rec[f"attrs_{first}"], rec[f"attrs_{second}"]
    d = rec[f"gold_{first}"] - rec[f"gold_{second}"]
    d += cfg.length_bias * (words(rec[first]) - words(rec[second])) / cfg.length_norm
    d += cfg.agreement_bias * (int(a["sycophantic"]) - int(b["sycophantic"]))
    d += cfg.format_bias * (int(a["formatting"]) - int(b["formatting"]))
    return d / rec["tau"]


def sig(x: np.ndarray | float) -> np.ndarray | float:
    """Logistic function (numpy)."""
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


def assert_rate_matches(hits: np.ndarray, probs: np.ndarray, z: float = Z99) -> None:
    """Sum of Bernoulli(probs) outcomes lies in the normal (Poisson-binomial) interval around sum(probs)."""
    hits = np.asarray(hits, dtype=float)
    probs = np.asarray(probs, dtype=float)
    assert hits.shape == probs.shape and hits.size > 100
    expected = probs.sum()
    sd = math.sqrt(float(np.sum(probs * (1 - probs))))
    observed = hits.sum()
    assert abs(observed - expected) <= z * sd + 0.5, (
        f"observed {observed / hits.size:.4f} vs expected {expected / hits.size:.4f} "
        f"(n={hits.size}, {abs(observed - expected) / max(sd, 1e-9):.2f} sd)"
    )


def has_phrase(phrase: str, text: str) -> bool:
    """Whole-word occurrence ('is C' is not in 'is Cl'); the first letter may be upper-cased (sentence start)."""
    alts = f"{re.escape(phrase)}|{re.escape(phrase[:1].upper() + phrase[1:])}"
    return re.search(rf"(?<!\w)(?:{alts})(?!\w)", text) is not None


def sentences(text: str) -> list[str]:
    """Split a response into its sentence units (bullets stripped) to count verbatim repetitions."""
    out = []
    for line in text.split("\n"):
        line = line.strip()
        if line.startswith("- "):
            line = line[2:]
        out += [s for s in SENT_SPLIT.split(line) if s]
    return out
