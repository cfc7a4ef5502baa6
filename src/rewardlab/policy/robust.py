"""Robust and best-of-N-aware policy weights (ALGORITHMS.md section 4): DRRO, standard DRO, the GRPO-style DRRO
sampled bonus, and best-of-N advantages (exact U-statistic for N <= m, Tail-Extrapolated Advantage above).

All functions are pure numpy/scipy and work on one prompt's candidates (a 1-D array of rewards).

- DRRO: a prompt with K candidates, proxy rewards r_hat and policy p on the simplex; with an l1-Wasserstein radius
  eps the worst-case regret is WCR(p) = eps + max_k (r_hat_k - eps p_k) - <p, r_hat>. Its minimiser is found by
  water filling (:func:`drro_weights`).
- Standard DRO: max_p <p, r_hat> - eps ||p||_inf, whose optimum is uniform over the top s candidates
  (:func:`dro_weights`), flatter than DRRO.
- The GRPO-style sampled versions are the two objectives' (super)gradients in p: DRRO's -dWCR/dp = r_hat + eps e_k*
  with k* = argmax (r_hat - eps p) (a bonus, :func:`drro_bonus_advantages`); DRO's r_hat - eps e_k' with
  k' = argmax p (a penalty on the group's most probable sample, :func:`dro_penalty_advantages`).
- Best-of-N: the gradient of J_N = E[max of N rewards] weights a sample with reward r by
  h_N(r) = E[max(r, M_{N-1})] (:func:`tea_advantages`, :func:`tea_expected_max`).
"""

from __future__ import annotations

import logging

import numpy as np

from rewardlab.errors import RewardlabError

log = logging.getLogger(__name__)

__all__ = ["dro_penalty_advantages", "drro_bonus_advantages", "drro_wcr", "drro_weights", "dro_weights",
           "tea_advantages", "tea_expected_max", "bon_advantages_exact", "bon_expected_max_exact"]


def _vector(x: np.ndarray | list[float], name: str, min_len: int = 1) -> np.ndarray:
    a = np.asarray(x, dtype=float)
    if a.ndim != 1 or a.size < min_len:
        raise RewardlabError(f"{name}: expected a 1-D array of at least {min_len} values, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise RewardlabError(f"{name}: every value must be finite, got {a.tolist()[:10]}")
    return a


def _radius(eps: float) -> float:
    if not np.isfinite(eps) or eps < 0:
        raise RewardlabError(f"eps: the robustness radius must be a finite number >= 0, got {eps}")
    return float(eps)


def drro_wcr(p: np.ndarray | list[float], r_hat: np.ndarray | list[float], eps: float) -> float:
    """The DRRO worst-case regret WCR(p) = eps + max_k (r_hat_k - eps p_k) - <p, r_hat>.

    Args:
        p: policy over the K candidates (on the simplex).
        r_hat: proxy rewards of the K candidates.
        eps: l1-Wasserstein radius (>= 0).

    Returns:
        The worst-case regret of p.

    Raises:
        RewardlabError: when p and r_hat differ in length, are not finite, or eps < 0.

    Example:
        >>> round(drro_wcr([0.6, 0.4, 0.0], [1.0, 0.9, 0.0], 0.5), 6)
        0.24
    """
    p_a, r = _vector(p, "p"), _vector(r_hat, "r_hat")
    eps = _radius(eps)
    if p_a.shape != r.shape:
        raise RewardlabError(f"p: expected {r.size} probabilities (one per candidate), got {p_a.size}")
    return float(eps + np.max(r - eps * p_a) - p_a @ r)


def drro_weights(r_hat: np.ndarray | list[float], eps: float) -> np.ndarray:
    """The DRRO optimal policy argmin_p WCR(p) on the simplex, by water filling.

    With k1 = argmax r_hat, the policy at a level t is p_k = (r_hat_k - t)_+ / eps for k != k1 and
    p_k1 = 1 - sum of the rest; it is feasible for t >= t0, the water level where sum_k (r_hat_k - t0)_+ = eps.
    The level minimises the convex piecewise-linear f(t) = t + sum_{k != k1} (r_hat_k1 - r_hat_k)(r_hat_k - t)_+ / eps
    (WCR = eps + f(t) - r_hat_k1), so the minimum is at t0 or at a breakpoint r_hat_k above it. eps = 0 is greedy.

    Args:
        r_hat: proxy rewards of the K candidates.
        eps: l1-Wasserstein radius (>= 0).

    Returns:
        p, shape [K], on the simplex.

    Raises:
        RewardlabError: when r_hat is empty or not finite, or eps < 0.

    Example:
        >>> drro_weights([1.0, 0.9, 0.0], 2.0).round(3).tolist()
        [0.517, 0.467, 0.017]
        >>> drro_weights([1.0, 0.9, 0.0], 0.5).round(3).tolist()
        [0.6, 0.4, 0.0]
    """
    r = _vector(r_hat, "r_hat")
    eps = _radius(eps)
    k1 = int(np.argmax(r))
    p = np.zeros_like(r)
    if eps == 0.0 or r.size == 1:
        p[k1] = 1.0
        return p
    # water level t0: sum_k (r_k - t0)_+ = eps, over the sorted values (descending)
    s = np.sort(r)[::-1]
    csum = np.cumsum(s)
    t0 = float(s[-1])
    for j in range(1, r.size + 1):  # the top j are above the level
        t = (csum[j - 1] - eps) / j
        if j == r.size or t >= s[j]:
            t0 = t
            break
    others = np.arange(r.size) != k1
    gap = r[k1] - r[others]

    def f(t: float) -> float:
        return t + float(gap @ np.maximum(r[others] - t, 0.0)) / eps

    cands = np.concatenate([[t0], r[others][r[others] > t0]])
    vals = np.array([f(t) for t in cands])
    t_best = float(cands[int(np.argmin(vals))])
    p[others] = np.maximum(r[others] - t_best, 0.0) / eps
    p[k1] = 1.0 - p[others].sum()
    return p


def dro_weights(r_hat: np.ndarray | list[float], eps: float) -> np.ndarray:
    """Standard DRO policy argmax_p <p, r_hat> - eps ||p||_inf on the simplex: uniform over the top s candidates.

    For a cap m = ||p||_inf the best <p, r_hat> fills the top candidates up to m; the value is concave and piecewise
    linear in m with breakpoints at m = 1/s, so the optimum is uniform over the top s with
    s = argmax_s (sum of the top s - eps) / s (the smallest such s on ties).

    Args, Returns and Raises: as :func:`drro_weights` (eps is the radius of the l_inf penalty here).

    Example:
        >>> dro_weights([1.0, 0.9, 0.0], 2.0).round(3).tolist()
        [0.333, 0.333, 0.333]
        >>> dro_weights([1.0, 0.9, 0.0], 0.5).round(3).tolist()
        [0.5, 0.5, 0.0]
    """
    r = _vector(r_hat, "r_hat")
    eps = _radius(eps)
    order = np.argsort(-r, kind="stable")
    sizes = np.arange(1, r.size + 1)
    value = (np.cumsum(r[order]) - eps) / sizes
    s = int(np.argmax(value)) + 1
    p = np.zeros_like(r)
    p[order[:s]] = 1.0 / s
    return p


def _group(r: np.ndarray | list[float], p_est: np.ndarray | list[float],
           eps: float) -> tuple[np.ndarray, np.ndarray, float]:
    """One group's rewards and estimated probabilities (finite vectors of one length) and a checked radius."""
    r_a, p_a = _vector(r, "r"), _vector(p_est, "p_est")
    eps = _radius(eps)
    if r_a.shape != p_a.shape:
        raise RewardlabError(f"p_est: expected {r_a.size} probabilities (one per sample), got {p_a.size}")
    return r_a, p_a, eps


def _shift_one(r_a: np.ndarray, v: np.ndarray, shift: float, rng: np.random.Generator, tol: float) -> np.ndarray:
    """Group-normalised advantages of r_a with `shift` added to one sample drawn uniformly among argmax v (within
    tol): the sampled (super)gradient that DRRO's bonus and DRO's penalty share."""
    ties = np.flatnonzero(v >= v.max() - tol)
    k = int(rng.choice(ties))
    rt = r_a.copy()
    rt[k] += shift
    return (rt - rt.mean()) / (rt.std() + 1e-6)


def drro_bonus_advantages(r: np.ndarray | list[float], p_est: np.ndarray | list[float], eps: float,
                          rng: np.random.Generator, tol: float = 1e-9) -> np.ndarray:
    """GRPO-style DRRO sampled bonus for one group: advantages with a bonus eps on one drawn candidate.

    v_i = r_i - eps p_i; k* is drawn uniformly among argmax v (within tol); r_tilde_i = r_i + eps 1[i = k*];
    A_i = (r_tilde_i - mean r_tilde) / (std r_tilde + 1e-6) (population std, as GRPO's group_advantages).

    Args:
        r: rewards of the G samples in the group.
        p_est: the policy's estimated probabilities of those samples.
        eps: bonus size (>= 0), typically a multiple of std(r) (sweep {0.1, 0.5, 1}).
        rng: random generator for the tie break.
        tol: values of v within tol of the maximum count as tied.

    Returns:
        Advantages, shape [G].

    Raises:
        RewardlabError: when r and p_est differ in length or are not finite, or eps < 0.

    Example:
        >>> a = drro_bonus_advantages([1.0, 1.0, 0.0], [0.5, 0.2, 0.3], 0.5, np.random.default_rng(0))
        >>> a.round(3).tolist()
        [0.267, 1.069, -1.336]
    """
    r_a, p_a, eps = _group(r, p_est, eps)
    return _shift_one(r_a, r_a - eps * p_a, eps, rng, tol)


def dro_penalty_advantages(r: np.ndarray | list[float], p_est: np.ndarray | list[float], eps: float,
                           rng: np.random.Generator, tol: float = 1e-12) -> np.ndarray:
    """GRPO-style standard-DRO sampled penalty for one group: the supergradient of <p, r> - eps ||p||_inf.

    k' is drawn uniformly among argmax p_est (within tol); r_tilde_i = r_i - eps 1[i = k']; advantages
    A_i = (r_tilde_i - mean r_tilde) / (std r_tilde + 1e-6) (population std). The same interface as
    :func:`drro_bonus_advantages`: where DRRO adds eps to the sample the policy under-weights for its reward, DRO
    takes eps from the sample the policy weights most, pushing toward the flat top-s optimum of :func:`dro_weights`.

    Args, Returns and Raises: as :func:`drro_bonus_advantages` (eps is the penalty's size here; tol applies to the
    probabilities p_est).

    Example:
        >>> a = dro_penalty_advantages([1.0, 1.0, 0.0], [0.5, 0.2, 0.3], 0.5, np.random.default_rng(0))
        >>> a.round(3).tolist()
        [0.0, 1.225, -1.225]
    """
    r_a, p_a, eps = _group(r, p_est, eps)
    return _shift_one(r_a, p_a, -eps, rng, tol)


def _log_comb(n: np.ndarray | int, k: int) -> np.ndarray:
    n = np.asarray(n, dtype=float)
    from scipy.special import gammaln  # here: the command line imports this module, and scipy costs 0.3 s

    return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)


def _order_weights(m: int, n: int) -> np.ndarray:
    """w_i = C(i-1, n-1) / C(m, n), i = 1..m: the chance that the i-th smallest of m is the max of n drawn."""
    i = np.arange(1, m + 1)
    w = np.zeros(m)
    ok = i >= n
    w[ok] = np.exp(_log_comb(i[ok] - 1, n - 1) - _log_comb(m, n))
    return w


class _TailCDF:
    """F_hat: empirical below u = r_(m-k), k = max(1, m // 4); 1 - (k/m) exp(-(t-u)/scale) above."""

    def __init__(self, r: np.ndarray) -> None:
        self.x = np.sort(r)
        m = self.x.size
        self.m, self.k = m, max(1, m // 4)
        self.u = float(self.x[m - self.k - 1])
        self.q = self.k / m
        self.scale = float(np.mean(self.x[m - self.k:] - self.u))

    def tail(self, t: float, n: int) -> float:
        """Integral over [t, inf) of 1 - F^n for t >= u: scale * sum_{j=1..n} (1 - (1 - q')^j) / j."""
        if n == 0 or self.scale <= 0.0:
            return 0.0
        q = self.q * np.exp(-(t - self.u) / self.scale)
        j = np.arange(1, n + 1)
        return self.scale * float(np.sum((1.0 - (1.0 - q) ** j) / j))

    def upper(self, t: float, n: int) -> float:
        """Integral over [t, inf) of 1 - F^n for any t."""
        if t >= self.u:
            return self.tail(t, n)
        # empirical steps: F = i/m on [x_(i), x_(i+1)), i = 1..m-k-1 (1-indexed), 0 below x_(1)
        edges = self.x[: self.m - self.k]  # x_(1) .. x_(m-k) = u
        total = self.tail(self.u, n)
        lo = np.maximum(edges[:-1], t)
        hi = edges[1:]
        level = np.arange(1, edges.size) / self.m
        seg = np.clip(hi - lo, 0.0, None)
        total += float(np.sum(seg * (1.0 - level ** n)))
        if t < edges[0]:
            total += edges[0] - t
        return total


def _check_n(n: int, r: np.ndarray) -> None:
    if int(n) != n or n < 1:
        raise RewardlabError(f"N: the best-of-N size must be an integer >= 1, got {n}")
    if r.size < 2:
        raise RewardlabError(f"r: best-of-N advantages need at least 2 rollouts, got {r.size}")


def tea_expected_max(r: np.ndarray | list[float], n: int) -> float:
    """Estimate E[max of N rewards] from m rollouts r: exact U-statistic for N <= m, TEA tail otherwise.

    N <= m: sum_{i=N..m} C(i-1, N-1) / C(m, N) r_(i) (r sorted ascending). N > m: E[max] = min r +
    integral of (1 - F_hat^N) with F_hat the empirical CDF below u = r_(m-k), k = m // 4, and an exponential tail
    with scale mean(top k - u) above.

    Args:
        r: rewards of m >= 2 rollouts.
        n: N, the best-of-N size (>= 1).

    Returns:
        The estimated expected maximum of N rewards.

    Raises:
        RewardlabError: when r has fewer than 2 finite values or N is not an integer >= 1.

    Example:
        >>> round(tea_expected_max([1.0, 2.0, 3.0, 4.0], 2), 6)  # (2*1 + 3*2 + 4*3) / 6
        3.333333
    """
    x = _vector(r, "r")
    _check_n(n, x)
    n = int(n)
    m = x.size
    if n <= m:
        return float(_order_weights(m, n) @ np.sort(x))
    cdf = _TailCDF(x)
    return float(cdf.x[0] + cdf.upper(float(cdf.x[0]), n))


def tea_advantages(r: np.ndarray | list[float], n: int) -> np.ndarray:
    """Best-of-N-aware advantages A_i = h_N(r_i) - mean_j h_N(r_j) with h_N(r) = E[max(r, M_{N-1})].

    N <= m: exact U-statistic, h_N(r_i) = mean over the (N-1)-subsets S of the other rollouts of max(r_i, max S).
    N > m: Tail-Extrapolated Advantage, h_N(r) = r + integral over [r, inf) of (1 - F_hat^(N-1)), with F_hat as in
    :func:`tea_expected_max`. N = 1 gives r - mean r.

    Args:
        r: rewards of m >= 2 rollouts of one prompt.
        n: N, the best-of-N size (>= 1).

    Returns:
        Advantages, shape [m].

    Raises:
        RewardlabError: when r has fewer than 2 finite values or N is not an integer >= 1.

    Example:
        >>> tea_advantages([1.0, 2.0, 3.0], 1).tolist()
        [-1.0, 0.0, 1.0]
        >>> tea_advantages([1.0, 2.0, 3.0], 2).round(4).tolist()
        [-0.1667, -0.1667, 0.3333]
    """
    x = _vector(r, "r")
    _check_n(n, x)
    n = int(n)
    m = x.size
    h = np.empty(m)
    if n == 1:
        h[:] = x
    elif n <= m:
        w = _order_weights(m - 1, n - 1)
        for i in range(m):
            others = np.sort(np.delete(x, i))
            h[i] = w @ np.maximum(others, x[i])
    else:
        cdf = _TailCDF(x)
        for i in range(m):
            h[i] = x[i] + cdf.upper(float(x[i]), n - 1)
    return h - h.mean()


def _law(values: np.ndarray | list[float], probs: np.ndarray | list[float]) -> tuple[np.ndarray, np.ndarray]:
    """(values ascending with equal values merged, their probabilities normalised to sum 1)."""
    v = _vector(values, "values")
    p = _vector(probs, "probs")
    if v.size != p.size:
        raise RewardlabError(f"values and probs: {v.size} values but {p.size} probabilities")
    if np.any(p < 0) or p.sum() <= 0:
        raise RewardlabError("probs: probabilities must be >= 0 with a positive sum")
    uniq, inv = np.unique(v, return_inverse=True)
    return uniq, np.bincount(inv, weights=p, minlength=uniq.size) / p.sum()


def bon_expected_max_exact(values: np.ndarray | list[float], probs: np.ndarray | list[float], n: int) -> float:
    """E[max of N i.i.d. draws] of a discrete reward law, exactly: sum_v v (F(v)^N - F(v-)^N).

    The oracle counterpart of :func:`tea_expected_max` when the law is known (the simulator policy's gold law,
    :func:`rewardlab.policy.winrate.gold_law`): the best-of-N value of a policy with no sampling error.

    Args:
        values: the law's support (any order; equal values are merged).
        probs: their probabilities (>= 0, normalised here).
        n: N, the best-of-N size (an integer >= 1).

    Returns:
        The expected maximum of N draws.

    Raises:
        RewardlabError: values and probs of different lengths, a negative or all-zero probability, a non-finite
            value, or N not an integer >= 1.

    Example:
        >>> bon_expected_max_exact([0.0, 1.0], [0.5, 0.5], 2)  # 1 - P(both 0) = 0.75
        0.75
    """
    if int(n) != n or n < 1:
        raise RewardlabError(f"N: the best-of-N size must be an integer >= 1, got {n}")
    v, p = _law(values, probs)
    cdf = np.minimum(np.cumsum(p), 1.0)
    below = np.concatenate([[0.0], cdf[:-1]])
    return float(v @ (cdf ** int(n) - below ** int(n)))


def bon_advantages_exact(r: np.ndarray | list[float], values: np.ndarray | list[float],
                         probs: np.ndarray | list[float], n: int) -> np.ndarray:
    """Oracle best-of-N advantages A_i = h_N(r_i) - mean_j h_N(r_j), h_N(r) = E[max(r, M_{N-1})] with M_{N-1} the
    maximum of N - 1 draws from the known reward law (values, probs) instead of TEA's fitted one.

    h_N(r) = sum_v max(r, v) P(M_{N-1} = v), P(M_{N-1} = v) = F(v)^(N-1) - F(v-)^(N-1). With rollouts drawn from
    that law, N E[A(y) grad log pi(y)] is the exact gradient of J_N = E[max of N rewards] (the positive control of
    :func:`tea_advantages`, whose F is estimated from the m rollouts). N = 1 gives r - mean r.

    Args:
        r: rewards of m >= 2 rollouts of one prompt.
        values: the support of the reward law of one rollout (the policy's, for that prompt).
        probs: its probabilities.
        n: N (an integer >= 1).

    Returns:
        Advantages, shape [m].

    Raises:
        RewardlabError: fewer than 2 rollouts, N not an integer >= 1, or a malformed law (see
            :func:`bon_expected_max_exact`).

    Example:
        >>> bon_advantages_exact([0.0, 1.0], [0.0, 1.0], [0.5, 0.5], 2).tolist()  # h = (0.5, 1.0)
        [-0.25, 0.25]
    """
    x = _vector(r, "r")
    _check_n(n, x)
    v, p = _law(values, probs)
    if int(n) == 1:
        return x - x.mean()
    cdf = np.minimum(np.cumsum(p), 1.0)
    below = np.concatenate([[0.0], cdf[:-1]])
    pm = cdf ** (int(n) - 1) - below ** (int(n) - 1)  # the law of M_{N-1} on v
    h = np.maximum(x[:, None], v[None, :]) @ pm
    return h - h.mean()
