"""Calibration of pairwise preference probabilities p = sigmoid(Delta / T), Delta = r_chosen - r_rejected.

Labels ``y`` are the probability that the *chosen* (first) response is preferred: 1 for ordinary hard pairs
(the default when ``y is None``), 0 when the second one won, anything in [0, 1] for soft labels (annotator
shares, ties = 0.5).  With soft labels the predicted side is "correct" with probability y if the model predicts
chosen (Delta > 0) and 1 - y if it predicts rejected (Delta < 0); a model tie (Delta == 0, p = 0.5) is correct
with probability 0.5, matching the accuracy convention.  ECE uses 10 equal-width bins on [0.5, 1] of the
confidence max(p, 1 - p); the last bin is closed.  All formulas are in ALGORITHMS.md section 3.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit

from rewardlab.errors import RewardlabError
from rewardlab.stats.util import jsonable

__all__ = [
    "brier_items",
    "brier_score",
    "ece_from_terms",
    "ece_terms",
    "fit_temperature",
    "log_sigmoid",
    "pairwise_correct",
    "pairwise_ece",
    "preference_nll",
    "preference_nll_items",
    "reliability_diagram",
    "sigmoid",
]

ArrayLike = Sequence[float] | np.ndarray


def sigmoid(z: ArrayLike) -> np.ndarray:
    """Numerically stable logistic function (scipy.special.expit)."""
    return expit(np.asarray(z, dtype=float))


def log_sigmoid(z: ArrayLike) -> np.ndarray:
    """Stable log sigma(z) = -log(1 + exp(-z)), finite for any finite z."""
    return -np.logaddexp(0.0, -np.asarray(z, dtype=float))


def _prep(delta: ArrayLike, y: ArrayLike | None) -> tuple[np.ndarray, np.ndarray]:
    d = np.asarray(delta, dtype=float).reshape(-1)
    if y is None:
        yy = np.ones_like(d)
    else:
        yy = np.asarray(y, dtype=float).reshape(-1)
        if yy.shape != d.shape:
            raise RewardlabError(f"y has shape {yy.shape}, delta has shape {d.shape}")
        if np.any((yy < 0) | (yy > 1)):
            raise RewardlabError("labels must lie in [0, 1]")
    if d.size == 0:
        raise RewardlabError("empty input")
    return d, yy


def _check_t(temperature: float) -> float:
    t = float(temperature)
    if not np.isfinite(t) or t <= 0:
        raise RewardlabError(f"temperature must be positive and finite, got {temperature}")
    return t


def _nll_items(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    return -(y * log_sigmoid(z) + (1.0 - y) * log_sigmoid(-z))


def preference_nll_items(
    delta: ArrayLike, y: ArrayLike | None = None, temperature: float = 1.0
) -> np.ndarray:
    """Per-pair cross-entropy -[y log sigma(Delta/T) + (1-y) log sigma(-Delta/T)] (for bootstrapping)."""
    d, yy = _prep(delta, y)
    return _nll_items(d / _check_t(temperature), yy)


def preference_nll(delta: ArrayLike, y: ArrayLike | None = None, temperature: float = 1.0) -> float:
    """Mean preference NLL; equals mean -log sigma(Delta/T) for hard labels y = 1 (a proper scoring rule)."""
    return float(preference_nll_items(delta, y, temperature).mean())


def brier_items(delta: ArrayLike, y: ArrayLike | None = None, temperature: float = 1.0) -> np.ndarray:
    """Per-pair squared error (sigma(Delta/T) - y)^2 (for bootstrapping)."""
    d, yy = _prep(delta, y)
    return (expit(d / _check_t(temperature)) - yy) ** 2


def brier_score(delta: ArrayLike, y: ArrayLike | None = None, temperature: float = 1.0) -> float:
    """Mean Brier score (sigma(Delta/T) - y)^2: calibration plus sharpness, bounded in [0, 1]."""
    return float(brier_items(delta, y, temperature).mean())


def pairwise_correct(delta: ArrayLike, y: ArrayLike | None = None) -> np.ndarray:
    """Per-pair probability that the model's predicted side won: y if Delta > 0, 1 - y if Delta < 0, 0.5 if tie."""
    d, yy = _prep(delta, y)
    return np.where(d > 0, yy, np.where(d < 0, 1.0 - yy, 0.5))


def _binned(
    delta: ArrayLike, y: ArrayLike | None, temperature: float, n_bins: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-bin (edges, counts, confidence sums, correctness sums) plus total n."""
    d, yy = _prep(delta, y)
    if n_bins < 1:
        raise RewardlabError("n_bins must be >= 1")
    p = expit(d / _check_t(temperature))
    conf = np.maximum(p, 1.0 - p)
    correct = pairwise_correct(d, yy)
    edges = np.linspace(0.5, 1.0, n_bins + 1)
    bins = np.clip(np.floor((conf - 0.5) / (0.5 / n_bins)).astype(int), 0, n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins).astype(float)
    conf_sum = np.bincount(bins, weights=conf, minlength=n_bins)
    corr_sum = np.bincount(bins, weights=correct, minlength=n_bins)
    return edges, counts, conf_sum, corr_sum, np.array(d.size)


def ece_terms(
    delta: ArrayLike, y: ArrayLike | None = None, temperature: float = 1.0, n_bins: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    """Per-pair (bin index, correct - confidence): ECE = sum_b |sum_{i in b} term_i| / n (cheap to bootstrap)."""
    d, yy = _prep(delta, y)
    p = expit(d / _check_t(temperature))
    conf = np.maximum(p, 1.0 - p)
    bins = np.clip(np.floor((conf - 0.5) / (0.5 / n_bins)).astype(int), 0, n_bins - 1)
    return bins, pairwise_correct(d, yy) - conf


def ece_from_terms(bins: np.ndarray, terms: np.ndarray, n_bins: int = 10) -> float:
    """ECE from :func:`ece_terms` output (possibly resampled)."""
    return float(np.abs(np.bincount(bins, weights=terms, minlength=n_bins)).sum() / bins.size)


def pairwise_ece(
    delta: ArrayLike, y: ArrayLike | None = None, temperature: float = 1.0, n_bins: int = 10
) -> float:
    """Pairwise expected calibration error sum_b (n_b/n) |acc_b - conf_b| on equal-width bins of [0.5, 1]."""
    _, counts, conf_sum, corr_sum, n = _binned(delta, y, temperature, n_bins)
    # sum_b (n_b/n) |acc_b - conf_b| = sum_b |corr_sum_b - conf_sum_b| / n  (empty bins contribute 0)
    return float(np.abs(corr_sum - conf_sum).sum() / float(n))


def reliability_diagram(
    delta: ArrayLike, y: ArrayLike | None = None, temperature: float = 1.0, n_bins: int = 10
) -> dict[str, Any]:
    """Data for a reliability plot: per confidence bin the count, mean confidence and accuracy (None if empty).

    Keys: ``bin_lower``, ``bin_upper``, ``count``, ``mean_confidence``, ``accuracy`` (lists of length n_bins),
    ``ece``, ``temperature``, ``n``.
    """
    edges, counts, conf_sum, corr_sum, n = _binned(delta, y, temperature, n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(counts > 0, conf_sum / counts, np.nan)
        acc = np.where(counts > 0, corr_sum / counts, np.nan)
    return jsonable(
        {
            "bin_lower": edges[:-1],
            "bin_upper": edges[1:],
            "count": counts.astype(int),
            "mean_confidence": mean_conf,
            "accuracy": acc,
            "ece": float(np.abs(corr_sum - conf_sum).sum() / float(n)),
            "temperature": float(temperature),
            "n": int(n),
        }
    )


def fit_temperature(
    delta: ArrayLike, y: ArrayLike | None = None, bounds: tuple[float, float] = (1e-2, 1e2)
) -> float:
    """Temperature T minimising the preference NLL of sigma(Delta/T), by bounded 1-D search over log T.

    Fit it on a validation split, not on the items you report.  If the optimum lies outside ``bounds`` (e.g.
    perfectly separated data, where NLL keeps falling as T -> 0) the nearest bound is returned.
    """
    d, yy = _prep(delta, y)
    lo, hi = float(bounds[0]), float(bounds[1])
    if not 0 < lo < hi:
        raise RewardlabError("bounds must satisfy 0 < lo < hi")

    def objective(log_t: float) -> float:
        return float(_nll_items(d * np.exp(-log_t), yy).mean())

    res = minimize_scalar(
        objective, bounds=(np.log(lo), np.log(hi)), method="bounded", options={"xatol": 1e-6}
    )
    best = float(res.x)
    # the bounded Brent search never evaluates the exact end points; prefer them if they are better
    for edge in (np.log(lo), np.log(hi)):
        if objective(edge) < objective(best):
            best = float(edge)
    return float(np.exp(best))
