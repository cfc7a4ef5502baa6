"""Best-of-n and KL-regularised overoptimisation curves on fixed candidate pools (ALGORITHMS.md section 4).

Inputs are per-prompt pools of m scored candidates: a proxy reward (the reward model, possibly with std or
ensemble members) and a gold reward. Everything is exact on the pool (no sampling) and vectorised over prompts.

- :func:`bon_expected`: the exact expectation, over uniformly drawn n-subsets of the pool (without replacement), of
  a value of the candidate a best-of-n choice picks, with ties in the ranking score resolved uniformly.

  Derivation (tie-aware): group the pool into blocks of equal rank score, sorted ascending; block l has c_l members
  and a_l candidates score at most its level (b_l = a_l - c_l strictly below). The best of a random n-subset S
  lies in block l iff S is inside the a_l lowest and not inside the b_l lowest: probability
  (C(a_l, n) - C(b_l, n)) / C(m, n). Given that event, S is exchangeable within the block and the pick is uniform
  among the tied members of S, so each member of the block is equally likely: the expected value is the block's
  mean. Since C(a, n) - C(b, n) = sum_{i=b+1..a} C(i-1, n-1) (hockey stick), the answer is the classical unbiased
  estimator sum_{i=n..m} C(i-1, n-1) / C(m, n) v_(i) applied to values replaced by their tie-block means.
- :func:`bon_kl_exact`: the exact KL of that best-of-n pick to the uniform draw of one candidate from the same
  pool (tie-aware; docs/ALGORITHMS.md section 9): the candidate of ascending rank i is picked with probability
  p_i = C(i-1, n-1) / C(m, n) (tied candidates share their block's total equally), and
  KL = sum_i p_i log(m p_i). It is 0 at n = 1 and log m (log(m / c) with c candidates tied at the top) at n = m.
- :func:`bon_kl`: the large-pool (continuous) limit of the same KL, log n - (n - 1) / n; at m = n = 1024 it is
  5.93 where the exact on-pool KL is log 1024 = 6.93. The curves use the exact one and keep this as
  ``kl_analytic``.
- :func:`tilted_policy`: pi_beta proportional to pi_0 exp(proxy / beta) on each pool, its exact KL(pi_beta || pi_0)
  and expectations.
- :func:`fit_gao`: the Gao et al. forms gold(d) = d (a - b d) (best-of-n) and d (a - b log d) (RL), d = sqrt(KL).
- :func:`goodhart_curves`: all of the above per selection rule, with bootstrap CIs over prompts.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.special import gammaln, logsumexp, xlogy

from rewardlab.errors import RewardlabError
from rewardlab.rules import Rule, parse_rule, pessimistic_scores
from rewardlab.stats.bootstrap import bootstrap_sums, percentile_interval
from rewardlab.stats.util import jsonable

__all__ = [
    "bon_expected",
    "bon_kl",
    "bon_kl_exact",
    "fit_gao",
    "goodhart_curves",
    "log2_n_grid",
    "tilted_policy", "spread_error_spearman"]

_FORMS = ("bon", "rl")


# ------------------------------------------------------------------------------------------------ best-of-n


def _pool(name: str, x: Any, ndim: int = 2) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != ndim:
        raise RewardlabError(f"{name} must be {ndim}-D [prompts, candidates], got shape {a.shape}")
    if a.shape[-1] == 0 or a.shape[0] == 0:
        raise RewardlabError(f"{name} must have at least one prompt and one candidate, got shape {a.shape}")
    return a


def _as_ns(ns: Any, m: int) -> np.ndarray:
    raw = np.atleast_1d(np.asarray(ns))
    if raw.ndim != 1 or raw.size == 0:
        raise RewardlabError(f"ns must be a non-empty 1-D list of sample sizes, got {ns!r}")
    if raw.dtype.kind not in "iuf" or np.any(raw != np.round(raw)):
        raise RewardlabError(f"ns must be whole numbers, got {ns!r}")
    out = raw.astype(np.int64)
    if out.min() < 1 or out.max() > m:
        raise RewardlabError(f"every n must be in 1..m = 1..{m} (the pool size), got {out.tolist()}")
    return out


@lru_cache(maxsize=32)
def _bon_weights(m: int, ns: tuple[int, ...]) -> np.ndarray:
    """[len(ns), m] weights W[j, i-1] = C(i-1, n_j-1) / C(m, n_j) for i >= n_j else 0 (log-gamma; rows sum to 1)."""
    i = np.arange(1, m + 1, dtype=np.float64)[None, :]
    n = np.asarray(ns, dtype=np.float64)[:, None]
    valid = i >= n
    ii = np.where(valid, i, n)  # keep gammaln away from its poles; masked below
    log_w = (gammaln(ii) - gammaln(n) - gammaln(ii - n + 1)) - (gammaln(m + 1) - gammaln(n + 1) - gammaln(m - n + 1))
    w = np.where(valid, np.exp(log_w), 0.0)
    w.setflags(write=False)
    return w


def _tie_block_means(sorted_scores: np.ndarray, sorted_values: list[np.ndarray]) -> list[np.ndarray]:
    """Replace each value by the mean over its block of equal (sorted) rank scores, per row."""
    new = np.ones(sorted_scores.shape, dtype=bool)
    new[:, 1:] = sorted_scores[:, 1:] != sorted_scores[:, :-1]
    if new.all():
        return sorted_values
    ids = np.cumsum(new.ravel()) - 1  # global block id (each row starts a new block)
    counts = np.bincount(ids)
    return [(np.bincount(ids, weights=v.ravel()) / counts)[ids].reshape(v.shape) for v in sorted_values]


def _bon_many(
    rank_scores: np.ndarray, values: list[np.ndarray], ns: np.ndarray, with_kl: bool = False
) -> tuple[list[np.ndarray], np.ndarray | None]:
    """Tie-aware best-of-n expectations [P, len(ns)] of several value arrays, sharing one sort; with ``with_kl``
    also the exact KL [P, len(ns)] of the pick to the uniform pool (else None)."""
    if np.isnan(rank_scores).any():
        raise RewardlabError("rank_scores contain NaN")
    order = np.argsort(rank_scores, axis=1, kind="stable")
    s = np.take_along_axis(rank_scores, order, axis=1)
    vs = _tie_block_means(s, [np.take_along_axis(v, order, axis=1) for v in values])
    w = _bon_weights(rank_scores.shape[1], tuple(int(n) for n in ns))
    return [v @ w.T for v in vs], (_bon_kl_sorted(s, w, ns) if with_kl else None)


def _bon_kl_sorted(s: np.ndarray, w: np.ndarray, ns: np.ndarray) -> np.ndarray:
    """KL [P, J] of the best-of-n pick to the uniform pool, from ascending-sorted scores s [P, m] and the pick
    probabilities w [J, m] of distinct ranks for the sizes ns [J]: tied candidates share their block's total
    probability equally."""
    n_p, m = s.shape
    # without ties every prompt has the same pick distribution w[j]; the KL is sum_i w log(m w)
    kl = np.repeat(xlogy(w, m * w).sum(axis=1)[None, :], n_p, axis=0)
    new = np.ones(s.shape, dtype=bool)
    new[:, 1:] = s[:, 1:] != s[:, :-1]
    tied = ~new.all(axis=1)
    if tied.any():
        ids = np.cumsum(new[tied].ravel()) - 1  # global block id over the tied rows
        counts = np.bincount(ids)
        n_tied = int(tied.sum())
        for j in range(w.shape[0]):
            block_p = np.bincount(ids, weights=np.tile(w[j], n_tied))  # hockey stick: C(a, n) - C(b, n) / C(m, n)
            q = (block_p / counts)[ids]
            kl[tied, j] = xlogy(q, m * q).reshape(n_tied, m).sum(axis=1)
    kl[:, np.asarray(ns) == 1] = 0.0  # n = 1 is the base itself: exactly 0, not a rounding residue
    return np.maximum(kl, 0.0)


def bon_expected(rank_scores: Any, values: Any, ns: Any) -> np.ndarray:
    """Exact expected value of the best-of-n pick, over uniform n-subsets of each prompt's pool (tie-aware).

    For each prompt, n of the m candidates are drawn uniformly without replacement, the one with the highest
    ``rank_scores`` is kept (uniformly among tied maxima) and its ``values`` entry is reported. The expectation is
    exact: sum_{i=n..m} C(i-1, n-1) / C(m, n) vbar_(i), with candidates sorted ascending by rank score and vbar the
    value averaged over each block of tied rank scores (see the module docstring for the derivation).

    Args:
        rank_scores: [P, m] scores that choose the best (e.g. a pessimistic proxy); NaN is not allowed.
        values: [P, m] the quantity to average (e.g. the gold reward of the same candidates).
        ns: sample sizes, each in 1..m.

    Returns:
        np.ndarray: [P, len(ns)] expected values.

    Raises:
        RewardlabError: shapes differ or are not 2-D, NaN rank scores, or an n outside 1..m.

    Example:
        >>> bon_expected([[1.0, 2.0, 3.0]], [[10.0, 20.0, 30.0]], [1, 2, 3])
        array([[20.        , 26.66666667, 30.        ]])
        >>> bon_expected([[1.0, 1.0]], [[0.0, 1.0]], [2])  # tied best: each half the time
        array([[0.5]])
    """
    s = _pool("rank_scores", rank_scores)
    v = _pool("values", values)
    if v.shape != s.shape:
        raise RewardlabError(f"values has shape {v.shape}, rank_scores has shape {s.shape}: they must match")
    return _bon_many(s, [v], _as_ns(ns, s.shape[1]))[0][0]


def bon_kl(n: Any) -> Any:
    """Analytic KL(best-of-n || base policy) = log n - (n - 1) / n, in nats (0 at n = 1): the large-pool limit.

    It is the KL of best-of-n from a continuous base policy (or a pool much larger than n). On a finite pool of m
    candidates the exact KL is :func:`bon_kl_exact`, which is larger: log m instead of log m - 1 + 1/m at n = m.

    Args:
        n: a sample size >= 1, or an array of them.

    Returns:
        float or np.ndarray: the KL for each n.

    Raises:
        RewardlabError: n < 1.

    Example:
        >>> round(bon_kl(4), 6)
        0.636294
        >>> bon_kl([1, 2])
        array([0.        , 0.19314718])
    """
    a = np.asarray(n, dtype=np.float64)
    if np.any(~(a >= 1)):
        raise RewardlabError(f"n must be >= 1, got {n!r}")
    out = np.log(a) - (a - 1.0) / a
    return float(out) if out.ndim == 0 else out


def bon_kl_exact(rank_scores: Any, ns: Any) -> np.ndarray:
    """Exact KL(best-of-n pick || one uniform draw) on each prompt's finite pool of m candidates, in nats.

    The best-of-n pick is the one :func:`bon_expected` averages over: n of the m candidates drawn uniformly without
    replacement, the highest ``rank_scores`` kept, uniformly among tied maxima. Sorted ascending, the candidate of
    rank i is picked with probability p_i = C(i-1, n-1) / C(m, n); a block of c tied candidates is picked with the
    sum of its ranks' p_i, shared equally among its members. KL = sum_i p_i log(m p_i) (docs/ALGORITHMS.md
    section 9): 0 at n = 1, log m at n = m without ties (log(m / c) with c tied at the top), and
    :func:`bon_kl` (n) = log n - (n - 1) / n in the limit m -> infinity.

    Args:
        rank_scores: [P, m] scores that choose the best; NaN is not allowed (+-inf are ordinary, tied values).
        ns: sample sizes, each in 1..m.

    Returns:
        np.ndarray: [P, len(ns)] KL per prompt and n (equal across prompts whose pools have no ties).

    Raises:
        RewardlabError: not 2-D, NaN scores, or an n outside 1..m.

    Example:
        >>> bon_kl_exact([[0.1, 0.5, 0.3, 0.9]], [1, 2, 4]).round(4)  # log 4 = 1.3863 at n = m
        array([[0.    , 0.3749, 1.3863]])
        >>> bon_kl_exact([[0.0, 1.0, 1.0]], [3]).round(4)  # two tied at the top: log(3 / 2)
        array([[0.4055]])
    """
    s = _pool("rank_scores", rank_scores)
    ns_ = _as_ns(ns, s.shape[1])
    if np.isnan(s).any():
        raise RewardlabError("rank_scores contain NaN")
    return _bon_kl_sorted(np.sort(s, axis=1), _bon_weights(s.shape[1], tuple(int(n) for n in ns_)), ns_)


def log2_n_grid(n_max: int) -> np.ndarray:
    """The default sample-size grid 1, 2, 4, ..., up to n_max, plus n_max itself when it is not a power of two.

    Args:
        n_max: the largest n (usually the pool size m), >= 1.

    Returns:
        np.ndarray: increasing int64 sample sizes.

    Raises:
        RewardlabError: n_max < 1.

    Example:
        >>> log2_n_grid(10)
        array([ 1,  2,  4,  8, 10])
    """
    if n_max < 1:
        raise RewardlabError("n_max must be >= 1")
    grid = [1 << k for k in range(int(n_max).bit_length()) if (1 << k) <= n_max]
    if grid[-1] != n_max:
        grid.append(int(n_max))
    return np.asarray(grid, dtype=np.int64)


# ------------------------------------------------------------------------------------------- tilted policy


def _log_pi0(log_pi0: Any, shape: tuple[int, int]) -> np.ndarray:
    if log_pi0 is None:
        return np.full(shape, -np.log(shape[1]))
    lp = np.asarray(log_pi0, dtype=np.float64)
    if lp.shape != shape:
        raise RewardlabError(f"log_pi0 has shape {lp.shape}, the pools have shape {shape}: they must match")
    if np.isnan(lp).any() or np.isposinf(lp).any():
        raise RewardlabError("log_pi0 must not contain NaN or +inf")
    norm = logsumexp(lp, axis=1, keepdims=True)
    if not np.all(np.isfinite(norm)):
        raise RewardlabError("every prompt needs at least one candidate with pi_0 > 0 (finite log_pi0)")
    return lp - norm


def _as_betas(betas: Any) -> np.ndarray:
    b = np.atleast_1d(np.asarray(betas, dtype=np.float64))
    if b.ndim != 1 or b.size == 0 or np.isnan(b).any() or np.any(b < 0):
        raise RewardlabError(f"betas must be a non-empty 1-D list of values in [0, inf], got {betas!r}")
    return b


def _tilted_many(
    proxy: np.ndarray, values: list[np.ndarray], betas: np.ndarray, lp0: np.ndarray
) -> tuple[np.ndarray, list[np.ndarray]]:
    """KL [P, B] and expectations [P, B] of several value arrays under pi_beta, one beta at a time."""
    support = np.isfinite(lp0)
    pmax = np.where(support, proxy, -np.inf).max(axis=1, keepdims=True)
    delta = np.where(support, proxy - pmax, -np.inf)  # <= 0, and 0 at the argmax
    n_p, n_b = proxy.shape[0], betas.size
    kl = np.empty((n_p, n_b))
    outs = [np.empty((n_p, n_b)) for _ in values]
    with np.errstate(over="ignore", divide="ignore", invalid="ignore", under="ignore"):
        for j, beta in enumerate(betas):
            if np.isposinf(beta):
                z = np.where(support, 0.0, -np.inf)
            elif beta == 0:
                z = np.where(delta == 0, 0.0, -np.inf)
            else:
                z = delta / beta
            z = np.maximum(z, -1e300)  # finite, so 0 * z = 0 where pi underflows to 0
            a = lp0 + z
            amax = a.max(axis=1, keepdims=True)
            e = np.exp(a - amax)
            tot = e.sum(axis=1, keepdims=True)
            pi = e / tot
            lse = amax[:, 0] + np.log(tot[:, 0])  # log sum_y pi_0(y) exp(z(y))
            # KL = sum pi (log pi - log pi_0) = sum pi z - lse  (sum pi = 1)
            kl[:, j] = np.maximum(np.einsum("pm,pm->p", pi, z) - lse, 0.0)
            for out, v in zip(outs, values, strict=True):
                out[:, j] = np.einsum("pm,pm->p", pi, v)
    return kl, outs


def tilted_policy(
    proxy: Any, gold: Any, betas: Any, log_pi0: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The KL-regularised optimum on each pool, pi_beta(y) proportional to pi_0(y) exp(proxy(y) / beta), exactly.

    beta = inf is pi_0 itself and beta = 0 the limit: pi_0 restricted to the proxy's argmax (renormalised). The
    computation shifts the proxy by its per-prompt maximum and normalises in log space, so it is stable for tiny
    and huge beta; KL is clipped at 0 against rounding.

    Args:
        proxy: [P, m] the reward being optimised (e.g. a pessimistic proxy score).
        gold: [P, m] the gold reward of the same candidates.
        betas: B temperatures in [0, inf].
        log_pi0: [P, m] base-policy log-probabilities (normalised per prompt here; -inf allowed for candidates
            outside the support), or None for a uniform pi_0.

    Returns:
        tuple[np.ndarray, np.ndarray, np.ndarray]: ``kl`` [P, B] = KL(pi_beta || pi_0) in nats, ``gold_value``
        [P, B] = E_pi_beta[gold] and ``proxy_value`` [P, B] = E_pi_beta[proxy].

    Raises:
        RewardlabError: shapes differ, NaN inputs, negative or NaN betas, or a prompt with no pi_0 support.

    Example:
        >>> kl, g, p = tilted_policy([[0.0, 1.0]], [[0.0, 10.0]], [0.0, 1.0, float("inf")])
        >>> kl.round(4), g.round(4)
        (array([[0.6931, 0.1109, 0.    ]]), array([[10.    ,  7.3106,  5.    ]]))
    """
    p = _pool("proxy", proxy)
    g = _pool("gold", gold)
    if g.shape != p.shape:
        raise RewardlabError(f"gold has shape {g.shape}, proxy has shape {p.shape}: they must match")
    if np.isnan(p).any() or np.isnan(g).any():
        raise RewardlabError("proxy and gold must not contain NaN")
    kl, (gv, pv) = _tilted_many(p, [g, p], _as_betas(betas), _log_pi0(log_pi0, p.shape))
    return kl, gv, pv


# --------------------------------------------------------------------------------------------- Gao et al. fits


def _fit_batch(d: np.ndarray, y: np.ndarray, form: str) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares (a, b) of y = a d - b x2(d) per row (x2 = d^2 or d log d); d broadcasts against y [R, J]."""
    d = np.broadcast_to(d, y.shape)
    x2 = -(d * d) if form == "bon" else -xlogy(d, d)
    s11, s12, s22 = (d * d).sum(-1), (d * x2).sum(-1), (x2 * x2).sum(-1)
    t1, t2 = (d * y).sum(-1), (x2 * y).sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        det = s11 * s22 - s12 * s12
        ok = det > 1e-12 * s11 * s22
        a = np.where(ok, (s22 * t1 - s12 * t2) / det, np.nan)
        b = np.where(ok, (s11 * t2 - s12 * t1) / det, np.nan)
    return a, b


def _peak(a: np.ndarray, b: np.ndarray, form: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(d*, gold at d*, status) with status 0 = interior maximum, 1 = at d = 0 (bon, a <= 0 < b), 2 = none (b <= 0)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if form == "bon":
            d_star = a / (2 * b)
            g_star = a * a / (4 * b)
            at_zero = (b > 0) & (a <= 0)
            d_star = np.where(at_zero, 0.0, d_star)
            g_star = np.where(at_zero, 0.0, g_star)
        else:
            d_star = np.exp(a / b - 1.0)
            g_star = b * d_star
            at_zero = np.zeros(a.shape, dtype=bool)
    none = ~(b > 0)
    status = np.where(none, 2, np.where(at_zero, 1, 0))
    return np.where(none, np.nan, d_star), np.where(none, np.nan, g_star), status


_PEAK_NOTES = (
    "interior maximum at d*",
    "a <= 0 < b: the fitted gold never rises above the base policy; the best is d = 0",
    "b <= 0: the fitted curve has no maximum (gold keeps rising with KL in this form); d* and its gold are None",
)


def _check_form(form: str) -> str:
    if form not in _FORMS:
        raise RewardlabError(f"form must be 'bon' (d (a - b d)) or 'rl' (d (a - b log d)), got {form!r}")
    return form


def fit_gao(
    d: Any,
    gold: Any,
    form: str,
    *,
    n_resamples: int = 0,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Least-squares fit of a Gao et al. overoptimisation form to a gold-vs-KL curve, and its peak.

    Forms, with d = sqrt(KL): ``"bon"`` gold = d (a - b d), peak d* = a / (2 b), gold* = a^2 / (4 b);
    ``"rl"`` gold = d (a - b log d), peak d* = exp(a / b - 1), gold* = b d*. Neither form has an intercept: pass
    the gold gain over the base policy (gold(d) - gold(0)). R^2 = 1 - SS_res / SS_tot with SS_tot about the mean.
    When b <= 0 there is no peak: ``d_star``, ``kl_star`` and ``gold_at_peak`` are None and ``peak`` is "none".

    Args:
        d: [J] sqrt(KL) values (>= 0), at least two distinct positive ones.
        gold: [J] gold gains, or [P, J] per-prompt gains (fit to their mean over prompts; with ``n_resamples`` > 0
            the CIs resample prompts, the rows).
        form: "bon" or "rl".
        n_resamples: bootstrap resamples over prompts (needs 2-D gold); 0 for none.
        confidence: the CI level.
        seed: the bootstrap seed (resamples as in :func:`rewardlab.stats.bootstrap.bootstrap_sums`).

    Returns:
        dict: JSON-ready {form, a, b, r2, d_star, kl_star, gold_at_peak, peak ("interior" | "at_zero" | "none"),
        peak_in_range (d* <= max d), note, n_points}; with resamples also ``ci``: {a, b, d_star, gold_at_peak}
        each {lo, hi}, and ``n_resamples_without_peak`` (replicates where b <= 0, left out of the d*/gold* CIs).

    Raises:
        RewardlabError: a bad form, shapes, negative or non-finite d, or fewer than two distinct positive d.

    Example:
        >>> import numpy as np
        >>> d = np.linspace(0.2, 3.0, 8)
        >>> fit = fit_gao(d, d * (2.0 - 0.5 * d), "bon")
        >>> round(fit["a"], 6), round(fit["b"], 6), round(fit["d_star"], 6), round(fit["gold_at_peak"], 6)
        (2.0, 0.5, 2.0, 2.0)
        >>> fit_gao(d, d, "bon")["peak"]
        'none'
    """
    _check_form(form)
    dd = np.asarray(d, dtype=np.float64)
    y = np.asarray(gold, dtype=np.float64)
    if dd.ndim != 1 or y.ndim not in (1, 2) or y.shape[-1] != dd.size:
        raise RewardlabError(f"d must be [J] and gold [J] or [P, J]; got {dd.shape} and {y.shape}")
    if not np.all(np.isfinite(dd)) or np.any(dd < 0) or not np.all(np.isfinite(y)):
        raise RewardlabError("d must be finite and >= 0, gold finite")
    if np.unique(dd[dd > 0]).size < 2:
        raise RewardlabError("the fit needs at least two distinct positive d values")
    y_mean = y if y.ndim == 1 else y.mean(axis=0)
    out = _fit_result(dd, y_mean, form)
    if n_resamples > 0:
        if y.ndim != 2:
            raise RewardlabError("bootstrap CIs need per-prompt gold [P, J]")
        sums, sizes = bootstrap_sums(y, n_resamples, seed)
        out.update(_fit_cis(dd, sums / sizes[:, None], form, confidence))
    return jsonable(out)


def _fit_result(d: np.ndarray, y: np.ndarray, form: str) -> dict[str, Any]:
    a, b = _fit_batch(d, y[None, :], form)
    a, b = float(a[0]), float(b[0])
    d_star, g_star, status = _peak(np.array(a), np.array(b), form)
    x2 = d * d if form == "bon" else xlogy(d, d)
    resid = y - (a * d - b * x2)
    ss_tot = float(((y - y.mean()) ** 2).sum())
    st = int(status)
    return {
        "form": form,
        "a": a,
        "b": b,
        "r2": 1.0 - float((resid**2).sum()) / ss_tot if ss_tot > 0 else None,
        "d_star": float(d_star),
        "kl_star": float(d_star) ** 2,
        "gold_at_peak": float(g_star),
        "peak": ("interior", "at_zero", "none")[st],
        "peak_in_range": bool(float(d_star) <= d.max()) if st != 2 else False,
        "note": _PEAK_NOTES[st],
        "n_points": int(d.size),
    }


def _fit_cis(d: np.ndarray, y_reps: np.ndarray, form: str, confidence: float) -> dict[str, Any]:
    """Percentile CIs of a, b, d*, gold* over bootstrap replicate curves (d [J] or [R, J], y_reps [R, J])."""
    a, b = _fit_batch(d, y_reps, form)
    d_star, g_star, status = _peak(a, b, form)

    def ci(x: np.ndarray) -> dict[str, Any]:
        lo, hi = percentile_interval(x, confidence)
        return {"lo": lo, "hi": hi}

    return {
        "ci": {"a": ci(a), "b": ci(b), "d_star": ci(d_star), "gold_at_peak": ci(g_star), "confidence": confidence},
        "n_resamples": int(y_reps.shape[0]),
        "n_resamples_without_peak": int(np.count_nonzero(status == 2)),
    }


# ------------------------------------------------------------------------------------------ Goodhart curves


def _goodhart_pools(proxy: Any, gold: Any) -> tuple[np.ndarray, np.ndarray]:
    """The checked [P, m] proxy and gold pools: the same shape and every value finite (the first bad one named)."""
    p = _pool("proxy", proxy)
    g = _pool("gold", gold)
    if g.shape != p.shape:
        raise RewardlabError(f"gold has shape {g.shape}, proxy has shape {p.shape}: they must match")
    for what, a in (("proxy", p), ("gold", g)):
        bad = np.argwhere(~np.isfinite(a))
        if len(bad):
            i, j = bad[0]
            raise RewardlabError(f"{what} must be finite: {len(bad)} non-finite value(s), the first {a[i, j]} at "
                             f"prompt {i}, candidate {j}")
    return p, g


def _goodhart_rules(rules: Sequence[str | Rule]) -> dict[str, Rule]:
    """The parsed selection rules by name, in order, each name once (its first spelling kept); at least one."""
    parsed: dict[str, Rule] = {}
    for r in rules:
        rule = parse_rule(r)
        parsed.setdefault(rule.name, rule)
    if not parsed:
        raise RewardlabError("at least one rule is required")
    return parsed


def _goodhart_ns(ns: Any, m: int) -> np.ndarray:
    """The best-of-n sample sizes: :func:`log2_n_grid` (m) by default, else ``ns`` checked (in 1..m, strictly
    increasing)."""
    n_grid = log2_n_grid(m) if ns is None else _as_ns(ns, m)
    if np.any(np.diff(n_grid) <= 0):
        raise RewardlabError(f"ns must be strictly increasing (sorted, no repeats), got {n_grid.tolist()}")
    return n_grid


def _rule_betas(scores: np.ndarray, betas: Any) -> tuple[float | None, np.ndarray]:
    """(beta_scale, betas) of one rule: the given betas (scale None), else ``scale * geomspace(0.01, 100, 20)``
    with scale the root mean within-prompt variance of the rule's scores (1 when that is 0 or not finite)."""
    if betas is not None:
        return None, _as_betas(betas)
    scale = float(np.sqrt(scores.var(axis=1).mean()))
    scale = scale if np.isfinite(scale) and scale > 0 else 1.0
    return scale, scale * np.geomspace(0.01, 100.0, 20)


_CURVE_KEYS = ("kl", "gold", "proxy", "proxy_mean")  # the per-prompt blocks of each curve, in table order


class _CurveTable:
    """Every per-prompt number the curves average, as the columns of one [P, K] table: the curves are its column
    means, and one bootstrap over prompts (its rows) gives every CI from the same, paired resamples.

    Columns 0 and 1 are the uniform-pool and the pi_0 mean gold of each prompt (the fits' baselines); `add` appends
    a block of columns, `resample` fixes the estimates and replicates, then `curve` and `fit` read them.
    """

    def __init__(self, baselines: list[np.ndarray]) -> None:
        self.columns = list(baselines)
        self.est = np.empty(0)
        self.reps = np.empty((0, 0))
        self.confidence = 0.95

    def add(self, block: np.ndarray) -> slice:
        """Append a [P, J] block of columns; returns where it sits in the table."""
        start = sum(c.shape[1] for c in self.columns)
        self.columns.append(block)
        return slice(start, start + block.shape[1])

    def resample(self, n_resamples: int, seed: int, confidence: float) -> None:
        """The column means (`est`) and, with ``n_resamples`` > 0, their bootstrap replicates over prompts
        (`reps`, [n_resamples, K]; else no rows)."""
        table = np.concatenate(self.columns, axis=1)  # [P, K]
        self.est = table.mean(axis=0)
        self.confidence = confidence
        if n_resamples > 0:
            sums, sizes = bootstrap_sums(table, n_resamples, seed)
            self.reps = sums / sizes[:, None]
        else:
            self.reps = np.empty((0, table.shape[1]))

    def curve(self, sl: slice | int) -> dict[str, Any]:
        """{estimate, lo, hi} of one column (an int) or lists of them for a block (a slice); lo/hi None without
        resamples."""
        idx = range(sl.start, sl.stop) if isinstance(sl, slice) else [sl]
        lo_hi = [percentile_interval(self.reps[:, k], self.confidence) for k in idx]
        e = [float(self.est[k]) for k in idx]
        if isinstance(sl, int):
            return {"estimate": e[0], "lo": lo_hi[0][0], "hi": lo_hi[0][1]}
        return {"estimate": e, "lo": [x[0] for x in lo_hi], "hi": [x[1] for x in lo_hi]}

    def fit(self, d_est: np.ndarray, d_reps: np.ndarray, gold_sl: slice, base: int, form: str) -> dict[str, Any]:
        """The Gao fit (``form``) of the gold gain over the baseline column ``base`` against d = sqrt(KL), with
        ``baseline_gold``, ``gold_at_peak_absolute`` and, with resamples, CIs refitted on every replicate curve."""
        est, reps = self.est, self.reps
        if np.unique(d_est[d_est > 0]).size < 2:
            return {"form": form, "error": "fewer than two distinct positive sqrt(KL) values: no fit"}
        out = _fit_result(d_est, est[gold_sl] - est[base], form)
        out["baseline_gold"] = float(est[base])
        out["gold_at_peak_absolute"] = out["gold_at_peak"] + float(est[base])
        if reps.shape[0]:
            out.update(_fit_cis(d_reps, reps[:, gold_sl] - reps[:, [base]], form, self.confidence))
        return out


def _add_rule(
    table: _CurveTable,
    name: str,
    rule: Rule,
    pools: tuple[np.ndarray, np.ndarray, np.ndarray],
    std: Any,
    members: Any,
    n_grid: np.ndarray,
    betas: Any,
) -> dict[str, Any]:
    """Score the candidates by one rule and add its per-prompt best-of-n and tilted-policy curves (KL, gold, the
    rule's score, the mean proxy) to the table; returns the rule's betas, beta scale and column slices.

    ``pools`` is (proxy, gold, normalised log pi_0), each [P, m]."""
    p, g, lp0 = pools
    scores = pessimistic_scores(rule, p, std, members)
    if not np.all(np.isfinite(scores)):
        raise RewardlabError(f"rule '{name}' gives non-finite scores (check the std / members inputs)")
    scale, b = _rule_betas(scores, betas)
    (bon_g, bon_p, bon_pm), kl_b = _bon_many(scores, [g, scores, p], n_grid, with_kl=True)
    kl_t, (t_g, t_p, t_pm) = _tilted_many(scores, [g, scores, p], b, lp0)
    return {
        "betas": b,
        "beta_scale": scale,
        "bon": {k: table.add(v) for k, v in zip(_CURVE_KEYS, (kl_b, bon_g, bon_p, bon_pm), strict=True)},
        "tilted": {k: table.add(v) for k, v in zip(_CURVE_KEYS, (kl_t, t_g, t_p, t_pm), strict=True)},
    }


def _rule_curves(
    table: _CurveTable, lay: dict[str, Any], n_grid: np.ndarray, kl_analytic: np.ndarray
) -> dict[str, Any]:
    """One rule's {"bon": ..., "tilted": ...} curves (estimates with CIs) and their Gao fits, from the table."""
    bl, tl = lay["bon"], lay["tilted"]
    kl_t_est = table.est[tl["kl"]]
    kl_b_est = table.est[bl["kl"]]
    return {
        "bon": {
            "n": n_grid,
            "kl": kl_b_est,
            "kl_ci": table.curve(bl["kl"]),
            "kl_analytic": kl_analytic,
            "sqrt_kl": np.sqrt(kl_b_est),
            **{k: table.curve(bl[k]) for k in ("gold", "proxy", "proxy_mean")},
            "fit": table.fit(np.sqrt(kl_b_est), np.sqrt(table.reps[:, bl["kl"]]), bl["gold"], 0, "bon"),
        },
        "tilted": {
            "beta": lay["betas"],
            "beta_scale": lay["beta_scale"],
            "kl": table.curve(tl["kl"]),
            "sqrt_kl": np.sqrt(kl_t_est),
            **{k: table.curve(tl[k]) for k in ("gold", "proxy", "proxy_mean")},
            "fit": table.fit(np.sqrt(kl_t_est), np.sqrt(table.reps[:, tl["kl"]]), tl["gold"], 1, "rl"),
        },
    }


def goodhart_curves(
    proxy: Any,
    gold: Any,
    rules: Sequence[str | Rule] = ("mean",),
    *,
    std: Any = None,
    members: Any = None,
    ns: Any = None,
    betas: Any = None,
    log_pi0: Any = None,
    n_resamples: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Overoptimisation (Goodhart) curves per selection rule: best-of-n and the tilted policy, with CIs and fits.

    For each rule, every candidate is scored by :func:`pessimistic_scores` (its own mean, std, members) and that
    score ranks the candidates; the curves report the gold of the very candidates that score picks. Per prompt:

    - best-of-n (:func:`bon_expected`, the pool treated as draws from the base policy) for each n, at its exact
      KL on the pool, :func:`bon_kl_exact` (to one uniform draw from the pool, the n = 1 policy); the large-pool
      formula :func:`bon_kl` is kept beside it as ``kl_analytic``;
    - the tilted policy pi_beta proportional to pi_0 exp(score / beta) (:func:`tilted_policy`) for each beta, at
      its exact KL on the pool (to pi_0 on the pool, the beta = inf policy).

    With a uniform pi_0 both curves measure KL to the same base, the uniform pool, so their x-axes agree. With
    ``log_pi0`` the tilted curve's base is pi_0 on the pool while best-of-n's stays the uniform pool: its draws are
    uniform subsets of a pool sampled from pi_0 (weighting them by pi_0 again would count pi_0 twice).

    Curves are means over prompts (the KL of the tilted policy too: the KL of the whole policy when prompts are
    equally likely); 95% percentile-bootstrap CIs resample prompts, reusing the per-prompt curves, with the same
    resamples for every rule and quantity (paired). The Gao fits use gold gains over the base policy: best-of-n
    ``d (a - b d)`` against the uniform-pool mean gold, tilted ``d (a - b log d)`` against the pi_0 mean gold,
    d = sqrt(KL); their CIs refit every resampled curve.

    Args:
        proxy: [P, m] mean proxy rewards.
        gold: [P, m] gold rewards of the same candidates.
        rules: selection rules (see :func:`parse_rule`); duplicates are dropped.
        std: [P, m] proxy std, or None.
        members: [P, m, K] ensemble member rewards, or None.
        ns: best-of-n sample sizes, strictly increasing, each in 1..m; default :func:`log2_n_grid` (m).
        betas: tilted-policy temperatures; default, per rule, ``scale * geomspace(0.01, 100, 20)`` with ``scale``
            the root mean within-prompt variance of the rule's scores (recorded as ``beta_scale``).
        log_pi0: [P, m] base log-probabilities for the tilted policy (uniform when None).
        n_resamples: bootstrap resamples over prompts (0 for no CIs).
        confidence: CI level.
        seed: bootstrap seed.

    Returns:
        dict: JSON-ready. Top level: ``n_prompts``, ``n_candidates``, ``n_resamples``, ``confidence``, ``seed``,
        ``baseline_gold`` ({uniform, pi0}, each {estimate, lo, hi}), ``kl_definitions`` (what each KL is),
        ``rules`` (the rule names in order) and
        ``curves`` {rule: {"bon": {n, kl, kl_ci, kl_analytic, sqrt_kl, gold, proxy, proxy_mean, fit}, "tilted":
        {beta, beta_scale, kl, sqrt_kl, gold, proxy, proxy_mean, fit}}}. Each curve quantity is {estimate, lo, hi}
        lists; best-of-n's ``kl`` is the list of exact on-pool KLs (mean over prompts; ``kl_ci`` its {estimate, lo,
        hi}; they differ between prompts only through ties) and ``kl_analytic`` the large-pool formula's.
        ``proxy`` is the rule's score (the objective optimised), ``proxy_mean`` the mean proxy of the same picks.
        ``fit`` is :func:`fit_gao`'s dict plus ``baseline_gold`` and ``gold_at_peak_absolute`` (gain + baseline);
        best-of-n is fitted against sqrt of the exact KL. Without resamples every lo and hi is None.

    Raises:
        RewardlabError: shapes, NaN or infinite proxy/gold, a rule whose scores are not finite, bad rules, a rule
            missing its input, a negative ``n_resamples``, or bad ns (not increasing, outside 1..m) / betas.

    Example:
        >>> import numpy as np
        >>> rng = np.random.default_rng(0)
        >>> gold = rng.normal(size=(50, 16))
        >>> proxy = gold + rng.normal(size=(50, 16))
        >>> res = goodhart_curves(proxy, gold, ["mean"], n_resamples=20)
        >>> res["curves"]["mean"]["bon"]["n"]
        [1, 2, 4, 8, 16]
        >>> g = res["curves"]["mean"]["bon"]["gold"]
        >>> g["estimate"][-1] > g["estimate"][0], g["lo"][-1] <= g["estimate"][-1] <= g["hi"][-1]
        (True, True)
    """
    p, g = _goodhart_pools(proxy, gold)
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int | np.integer) or n_resamples < 0:
        raise RewardlabError(f"n_resamples must be an integer >= 0 (0: no CIs), got {n_resamples!r}")
    n_prompts, m = p.shape
    parsed = _goodhart_rules(rules)
    n_grid = _goodhart_ns(ns, m)
    lp0 = _log_pi0(log_pi0, p.shape)
    # the table of per-prompt numbers: column 0 = uniform-pool mean gold, 1 = pi_0 mean gold, then curve blocks
    table = _CurveTable([g.mean(axis=1)[:, None], np.einsum("pm,pm->p", np.exp(lp0), g)[:, None]])
    layout = {name: _add_rule(table, name, rule, (p, g, lp0), std, members, n_grid, betas)
              for name, rule in parsed.items()}
    table.resample(n_resamples, seed, confidence)
    kl_analytic = bon_kl(n_grid.astype(float))
    return jsonable(
        {
            "n_prompts": n_prompts,
            "n_candidates": m,
            "n_resamples": n_resamples,
            "confidence": confidence,
            "seed": seed,
            "baseline_gold": {"uniform": table.curve(0), "pi0": table.curve(1)},
            "kl_definitions": {
                "bon": "exact KL on the pool of the best-of-n pick to one uniform draw from the pool",
                "tilted": "exact KL on the pool of pi_beta to pi_0 ("
                + ("uniform" if log_pi0 is None else "the given log_pi0") + ")",
                "kl_analytic": "log n - (n - 1) / n, the large-pool limit of best-of-n's KL",
            },
            "rules": list(parsed),
            "curves": {name: _rule_curves(table, lay, n_grid, kl_analytic) for name, lay in layout.items()},
        }
    )


def spread_error_spearman(mean: np.ndarray, std: np.ndarray, gold: np.ndarray) -> dict[str, Any]:
    """Do the members disagree where the proxy is wrong? The Spearman correlation, within each prompt, between the
    proxy's spread (its std) and its absolute error against gold, both rewards standardised within the prompt.

    Pessimism (min, lcb, uwo, quantile) can only keep more gold than the mean when this is positive: it lowers the
    score of candidates with a large spread, which helps only when those are the ones the proxy overrates.

    Args:
        mean: proxy mean rewards [P, m].
        std: the proxy's spread [P, m] (ensemble std or Gaussian s).
        gold: gold rewards [P, m].

    Returns:
        dict: mean (the average over prompts of the within-prompt correlation), n_prompts (prompts where std,
        error and ranks are not constant), per_prompt (list; None where undefined).

    Raises:
        RewardlabError: shapes differ or are not [P, m] with m >= 3.

    Example:
        >>> import numpy as np
        >>> g = np.array([[0.0, 1.0, 2.0, 3.0]])
        >>> m = np.array([[0.0, 1.0, 3.0, 2.0]])
        >>> err = np.abs((m - m.mean()) / m.std() - (g - g.mean()) / g.std())
        >>> spread_error_spearman(m, err, g)["mean"]
        1.0
    """
    mean, std, gold = (np.asarray(x, dtype=float) for x in (mean, std, gold))
    if mean.ndim != 2 or mean.shape != std.shape or mean.shape != gold.shape or mean.shape[1] < 3:
        raise RewardlabError(f"spread_error_spearman needs three [P, m] arrays with m >= 3, got {mean.shape}, "
                             f"{std.shape}, {gold.shape}")
    from scipy.stats import rankdata

    def z(x: np.ndarray) -> np.ndarray:
        sd = x.std(axis=1, keepdims=True)
        return (x - x.mean(axis=1, keepdims=True)) / np.where(sd > 0, sd, 1.0)

    err = np.abs(z(mean) - z(gold))
    a, b = rankdata(std, axis=1), rankdata(err, axis=1)
    a, b = a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a**2).sum(1) * (b**2).sum(1))
    ok = den > 0
    rho = np.where(ok, (a * b).sum(1) / np.where(ok, den, 1.0), np.nan)
    return {"mean": float(np.nanmean(rho)) if ok.any() else None, "n_prompts": int(ok.sum()),
            "per_prompt": [None if not o else float(r) for r, o in zip(rho, ok, strict=True)]}
