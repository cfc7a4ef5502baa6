"""Length-controlled accuracy: is the reward model right for reasons other than length?

On preference pairs with Delta_len = len(chosen) - len(rejected) (tokens):
- accuracy within bins of Delta_len (edges at its quantiles), each beside the longer-wins baseline of that bin;
- accuracy where the chosen response is the shorter one (and where it is the longer one, and equal length);
- length-balanced accuracy: pairs binned by |Delta_len| (quantiles); within a bin, the mean of the accuracy on
  chosen-longer and on chosen-shorter pairs; then the pair-count weighted mean over bins that hold both kinds.
  A scorer that only looks at length scores exactly 0.5 on it, whatever the data's length skew.
Model ties (equal rewards) count 0.5; soft labels are honoured as in `rewardlab eval`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rewardlab.stats.bootstrap import bootstrap_ci, bootstrap_mean_ci
from rewardlab.stats.calibration import pairwise_correct
from rewardlab.stats.util import ci_dict, jsonable


def _acc(values: np.ndarray, n_resamples: int, seed: int, cluster: np.ndarray | None) -> dict[str, Any] | None:
    if values.size == 0:
        return None
    if values.size == 1:
        return ci_dict(float(values[0]), float("nan"), float("nan"), 0.95)
    return ci_dict(*bootstrap_mean_ci(values, n_resamples, seed=seed, cluster=cluster), 0.95)


def _quantile_edges(x: np.ndarray, n_bins: int) -> np.ndarray:
    edges = np.unique(np.quantile(x, np.linspace(0.0, 1.0, n_bins + 1)))
    if edges.size == 1:
        edges = np.array([edges[0], edges[0]])
    return edges


def _bin_index(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value: [e0, e1], (e1, e2], ... (the first bin closed on both sides)."""
    return np.clip(np.searchsorted(edges, x, side="left") - 1, 0, len(edges) - 2)


def balanced_accuracy(correct: np.ndarray, delta: np.ndarray, abs_bin: np.ndarray) -> float:
    """Length-balanced accuracy: per |Delta_len| bin, mean of chosen-longer and chosen-shorter accuracy; then the
    count-weighted mean over bins holding both kinds (NaN if none does)."""
    total, weight = 0.0, 0
    for b in np.unique(abs_bin):
        m = abs_bin == b
        lo, sh = m & (delta > 0), m & (delta < 0)
        if lo.any() and sh.any():
            k = int(lo.sum() + sh.sum())
            total += k * 0.5 * (correct[lo].mean() + correct[sh].mean())
            weight += k
    return total / weight if weight else float("nan")


def length_control(r_chosen: np.ndarray, r_rejected: np.ndarray, len_chosen: np.ndarray, len_rejected: np.ndarray,
                   labels: np.ndarray | None = None, n_bins: int = 5, n_resamples: int = 1000, seed: int = 0,
                   cluster: Sequence[Any] | np.ndarray | None = None) -> dict[str, Any]:
    """Accuracy by length-difference bin, on chosen-shorter pairs, and length-balanced, with 95% bootstrap CIs."""
    rc, rr = np.asarray(r_chosen, float), np.asarray(r_rejected, float)
    delta = np.asarray(len_chosen, float) - np.asarray(len_rejected, float)
    n = rc.size
    y = np.ones(n) if labels is None else np.asarray(labels, float)
    correct = pairwise_correct(rc - rr, y)
    longer = pairwise_correct(delta, y)
    cl = None if cluster is None else np.asarray(cluster)

    def sub(mask: np.ndarray) -> np.ndarray | None:
        return None if cl is None else cl[mask]

    res: dict[str, Any] = {"n": n, "length_unit": "tokens", "accuracy": _acc(correct, n_resamples, seed, cl),
                           "longer_wins": _acc(longer, n_resamples, seed, cl)}
    if n == 0:
        return jsonable(res)
    edges = _quantile_edges(delta, n_bins)
    idx = _bin_index(delta, edges)
    bins = []
    for b in range(len(edges) - 1):
        m = idx == b
        if not m.any():
            continue
        bins.append({"lo": float(edges[b]), "hi": float(edges[b + 1]), "n": int(m.sum()),
                     "accuracy": _acc(correct[m], n_resamples, seed + b, sub(m)),
                     "longer_wins": float(longer[m].mean())})
    res["by_length_difference"] = bins
    for name, m in (("chosen_shorter", delta < 0), ("chosen_longer", delta > 0), ("equal_length", delta == 0)):
        res[name] = {"n": int(m.sum()), "accuracy": _acc(correct[m], n_resamples, seed, sub(m))}
    nz = delta != 0
    abs_bin = np.zeros(n, dtype=int)
    if nz.any():
        abs_edges = _quantile_edges(np.abs(delta[nz]), max(1, n_bins - 1))
        abs_bin = _bin_index(np.abs(delta), abs_edges)
        res["abs_bin_edges"] = [float(e) for e in abs_edges]
    est = balanced_accuracy(correct, delta, abs_bin)
    if np.isfinite(est) and n >= 2:
        _, lo, hi = bootstrap_ci(balanced_accuracy, correct, delta, abs_bin, n_resamples=n_resamples, seed=seed,
                                 cluster=cl)
        res["length_balanced_accuracy"] = ci_dict(est, lo, hi, 0.95)
    else:
        res["length_balanced_accuracy"] = ci_dict(est, float("nan"), float("nan"), 0.95)
    res["definition"] = ("length-balanced accuracy: within bins of |len(chosen) - len(rejected)|, the mean of the "
                         "accuracy on chosen-longer and chosen-shorter pairs, averaged over bins (pair-weighted); "
                         "a length-only scorer gets 0.5")
    return jsonable(res)
