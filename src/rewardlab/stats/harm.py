"""Harm-aware reward-error metrics (ALGORITHMS.md section 3, RECONSTRUCTED after "When Errors Can Be Beneficial").

Not every error of a proxy reward r_hat hurts: what matters is whether optimising r_hat against a base policy pi_0
moves probability toward responses that are truly worse. For one prompt with candidates y, base probabilities
pi_0(y), true (gold) reward r and proxy r_hat, bars being pi_0-weighted means:

- harmful error mass H = sum_y pi_0(y) 1[r_hat(y) > mean r_hat and r(y) < mean r]: the base probability of the
  responses the proxy pushes up (above its mean) although they are truly below average;
- ascent alignment rho = sum pi_0^2 (r - mean r)(r_hat - mean r_hat) / sum pi_0^2 (r - mean r)^2 (perfect proxy = 1).
  For a softmax policy with logits theta at pi_0, the exact gradient of E_pi[f] is pi_0 (f - mean f), so the rate of
  true-reward increase when the logits follow the proxy's gradient is sum pi_0^2 (r - mean r)(r_hat - mean r_hat),
  and rho is that rate relative to following the true reward's own gradient. rho > 0: a small policy-gradient step
  on the proxy raises the true reward; rho < 0: it lowers it.

rho scales with the proxy (2 r_hat doubles it), so reward models on different scales are compared with the
scale-free ascent cosine = the numerator over sqrt(sum pi_0^2 (r - mean r)^2 * sum pi_0^2 (r_hat - mean r_hat)^2),
in [-1, 1] (a rewardlab addition: the cosine between the two policy gradients; per-prompt reward normalisation, as
GRPO's advantages do, makes the step follow this direction).

Over many prompts (each with its own logits) the rates add, so the pooled rho is sum of numerators / sum of
denominators; prompts whose gold reward is constant under pi_0 have no ascent direction and are left out of rho and
the cosine (counted). CIs: percentile bootstrap over prompts.

Example:
    >>> import numpy as np
    >>> gold = np.array([[0.0, 1.0, 2.0]])
    >>> m = harm_aware_metrics(gold, gold, n_resamples=0)
    >>> m["ascent_alignment"]["estimate"], m["harmful_error_mass"]["estimate"]
    (1.0, 0.0)
    >>> m = harm_aware_metrics(np.array([[0.0, 2.0, 1.0]]), gold, n_resamples=0)
    >>> round(m["ascent_alignment"]["estimate"], 3), round(m["harmful_error_mass"]["estimate"], 3)
    (0.5, 0.0)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rewardlab.errors import RewardlabError
from rewardlab.stats.bootstrap import bootstrap_sums, percentile_interval
from rewardlab.stats.util import ci_dict, jsonable

__all__ = ["ascent_terms", "base_probabilities", "harm_aware_metrics", "harmful_error_mass"]

_TOL = 1e-12


def base_probabilities(shape: tuple[int, int], log_pi0: np.ndarray | None = None) -> np.ndarray:
    """[P, m] base-policy probabilities over each pool: uniform, or the softmax of `log_pi0` within each pool.

    Args:
        shape: (prompts, candidates per prompt).
        log_pi0: optional [P, m] log-probabilities (any additive constant per prompt).
    Returns:
        [P, m] probabilities, each row summing to 1.
    Raises:
        RewardlabError: `log_pi0` of another shape or with non-finite values.
    """
    if log_pi0 is None:
        return np.full(shape, 1.0 / shape[1])
    lp = np.asarray(log_pi0, dtype=float)
    if lp.shape != tuple(shape):
        raise RewardlabError(f"log_pi0 must have shape {tuple(shape)}, got {lp.shape}")
    if not np.isfinite(lp).all():
        raise RewardlabError("log_pi0 has non-finite values")
    w = np.exp(lp - lp.max(axis=1, keepdims=True))
    return w / w.sum(axis=1, keepdims=True)


def _centered(x: np.ndarray, pi0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x minus its pi_0-weighted mean per row, and a per-row tolerance for "above/below the mean"."""
    c = x - (pi0 * x).sum(axis=1, keepdims=True)
    tol = _TOL * np.maximum(np.abs(x).max(axis=1, keepdims=True), 1.0)
    return c, tol


def harmful_error_mass(proxy: np.ndarray, gold: np.ndarray, pi0: np.ndarray) -> np.ndarray:
    """Per-prompt harmful error mass H = sum_y pi_0(y) 1[r_hat(y) > mean r_hat and r(y) < mean r].

    Args:
        proxy, gold, pi0: [P, m] arrays (pi0 rows sum to 1).
    Returns:
        [P] values in [0, 1].
    """
    ph, th = _centered(np.asarray(proxy, float), pi0)
    g, tg = _centered(np.asarray(gold, float), pi0)
    return (pi0 * ((ph > th) & (g < -tg))).sum(axis=1)


def ascent_terms(proxy: np.ndarray, gold: np.ndarray, pi0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-prompt sums of the ascent alignment: (numerator, gold denominator, proxy denominator).

    numerator = sum pi_0^2 (r - mean r)(r_hat - mean r_hat), gold = sum pi_0^2 (r - mean r)^2,
    proxy = sum pi_0^2 (r_hat - mean r_hat)^2; rho = numerator / gold.
    """
    ph, _ = _centered(np.asarray(proxy, float), pi0)
    g, _ = _centered(np.asarray(gold, float), pi0)
    w = pi0**2
    return (w * g * ph).sum(axis=1), (w * g * g).sum(axis=1), (w * ph * ph).sum(axis=1)


def harm_aware_metrics(proxy: np.ndarray, gold: np.ndarray, log_pi0: np.ndarray | None = None,
                       n_resamples: int = 1000, confidence: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """Harmful error mass, ascent alignment (pooled rho) and ascent cosine over pools, with bootstrap CIs.

    Args:
        proxy: [P, m] proxy rewards (the reward model's), one row per prompt.
        gold: [P, m] true rewards of the same candidates.
        log_pi0: optional [P, m] base-policy log-probabilities (default: uniform over each pool).
        n_resamples: bootstrap resamples over prompts (0: no CIs, lo = hi = None).
        confidence: CI level.
        seed: bootstrap seed.
    Returns:
        JSON-ready dict: harmful_error_mass (mean over prompts), ascent_alignment (pooled rho),
        ascent_alignment_mean (mean of per-prompt rho), ascent_cosine (mean of per-prompt cosines),
        share_positive_alignment (share of prompts with rho > 0), each {estimate, lo, hi, confidence};
        n_prompts, n_constant_gold (prompts left out of rho), pi0 ('uniform' or 'given').
    Raises:
        RewardlabError: arrays of different shapes, fewer than 2 candidates, or non-finite values.

    Example:
        >>> import numpy as np
        >>> m = harm_aware_metrics(np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]]), n_resamples=0)
        >>> m["harmful_error_mass"]["estimate"], m["ascent_alignment"]["estimate"]
        (0.5, -1.0)
    """
    p = np.asarray(proxy, dtype=float)
    g = np.asarray(gold, dtype=float)
    if p.ndim != 2 or p.shape != g.shape:
        raise RewardlabError(f"proxy and gold must be [prompts, candidates] arrays of one shape, got {p.shape}, {g.shape}")
    if p.shape[1] < 2:
        raise RewardlabError("harm-aware metrics need at least 2 candidates per prompt")
    if not (np.isfinite(p).all() and np.isfinite(g).all()):
        raise RewardlabError("proxy and gold rewards must be finite")
    pi0 = base_probabilities(p.shape, log_pi0)
    h = harmful_error_mass(p, g, pi0)
    num, den, den_hat = ascent_terms(p, g, pi0)
    gtol = (_TOL * np.maximum(np.abs(g).max(axis=1), 1.0)) ** 2
    ok = den > gtol
    safe = np.where(ok, den, 1.0)
    rho = np.where(ok, num / safe, 0.0)
    cos = np.where(ok & (den_hat > 0), num / np.sqrt(safe * np.where(den_hat > 0, den_hat, 1.0)), 0.0)
    pos = (ok & (rho > 0)).astype(float)
    ok_f = ok.astype(float)
    cols = np.stack([h, np.ones_like(h), num * ok_f, den * ok_f, rho, cos, pos, ok_f], axis=1)

    def stats(s: np.ndarray) -> np.ndarray:
        s = np.atleast_2d(s)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.stack([s[:, 0] / s[:, 1], s[:, 2] / s[:, 3], s[:, 4] / s[:, 7], s[:, 5] / s[:, 7],
                             s[:, 6] / s[:, 7]], axis=1)

    point = stats(cols.sum(axis=0))[0]
    names = ("harmful_error_mass", "ascent_alignment", "ascent_alignment_mean", "ascent_cosine",
             "share_positive_alignment")
    if n_resamples > 0:
        sums, _ = bootstrap_sums(cols, n_resamples=n_resamples, seed=seed)
        reps = stats(sums)
        cis = [percentile_interval(reps[:, j], confidence) for j in range(len(names))]
    else:
        cis = [(None, None)] * len(names)
    out: dict[str, Any] = {n: ci_dict(float(v), lo, hi, confidence) for n, v, (lo, hi) in zip(names, point, cis,
                                                                                               strict=True)}
    out.update({"n_prompts": int(p.shape[0]), "n_constant_gold": int((~ok).sum()),
                "pi0": "uniform" if log_pi0 is None else "given"})
    return jsonable(out)
