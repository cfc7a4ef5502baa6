"""DRRO / DRO weights against linprog, the sampled bonus on a hand example, and best-of-N advantages against brute
force enumeration and the closed form E[max of N Exp(1)] = H_N (ALGORITHMS.md section 4)."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
from scipy.optimize import linprog

from rewardlab.errors import RewardlabError
from rewardlab.policy.robust import (
    dro_weights,
    drro_bonus_advantages,
    drro_wcr,
    drro_weights,
    tea_advantages,
    tea_expected_max,
)


def _drro_lp(r: np.ndarray, eps: float) -> tuple[np.ndarray, float]:
    """min_p WCR(p) as an LP over (p, t): min t - <p, r> s.t. r_k - eps p_k <= t, sum p = 1, p >= 0."""
    k = r.size
    c = np.concatenate([-r, [1.0]])
    a_ub = np.hstack([-eps * np.eye(k), -np.ones((k, 1))])
    res = linprog(c, A_ub=a_ub, b_ub=-r, A_eq=np.concatenate([np.ones(k), [0.0]])[None],
                  b_eq=[1.0], bounds=[(0, None)] * k + [(None, None)], method="highs")
    assert res.status == 0
    return res.x[:k], float(eps + res.fun)


def _dro_lp(r: np.ndarray, eps: float) -> float:
    """max_p <p, r> - eps m s.t. p_k <= m on the simplex; returns the optimal value."""
    k = r.size
    c = np.concatenate([-r, [eps]])
    a_ub = np.hstack([np.eye(k), -np.ones((k, 1))])
    res = linprog(c, A_ub=a_ub, b_ub=np.zeros(k), A_eq=np.concatenate([np.ones(k), [0.0]])[None],
                  b_eq=[1.0], bounds=[(0, None)] * (k + 1), method="highs")
    assert res.status == 0
    return float(-res.fun)


def test_drro_documented_values() -> None:
    r = [1.0, 0.9, 0.0]
    np.testing.assert_allclose(drro_weights(r, 2.0), [31 / 60, 28 / 60, 1 / 60], atol=1e-12)
    np.testing.assert_allclose(drro_weights(r, 2.0).round(3), [0.517, 0.467, 0.017])
    np.testing.assert_allclose(drro_weights(r, 0.5), [0.6, 0.4, 0.0], atol=1e-12)


def test_drro_matches_linprog_on_random_instances() -> None:
    rng = np.random.default_rng(0)
    unique_checked = 0
    for _ in range(250):
        k = int(rng.integers(2, 9))
        r = rng.normal(size=k) * rng.choice([0.1, 1.0, 5.0])
        eps = float(rng.choice([0.01, 0.1, 0.5, 1.0, 3.0, 10.0])) * rng.uniform(0.5, 2.0)
        p = drro_weights(r, eps)
        assert p.min() >= -1e-12 and abs(p.sum() - 1) < 1e-12
        p_lp, wcr_lp = _drro_lp(r, eps)
        assert abs(drro_wcr(p, r, eps) - wcr_lp) < 1e-7
        # p is unique when the LP optimum is: perturbing the objective towards another vertex must cost
        p_alt, _ = _drro_lp(r + 1e-9 * rng.normal(size=k), eps)
        if np.allclose(p_alt, p_lp, atol=1e-6):
            np.testing.assert_allclose(p, p_lp, atol=1e-6)
            unique_checked += 1
    assert unique_checked > 150


def test_drro_eps_to_zero_is_greedy() -> None:
    r = np.array([0.3, 1.2, -0.5, 1.1])
    np.testing.assert_allclose(drro_weights(r, 0.0), [0, 1, 0, 0])
    np.testing.assert_allclose(drro_weights(r, 1e-6), [0, 1, 0, 0], atol=1e-9)
    assert drro_weights(r, 0.5)[3] > 0  # a finite radius spreads mass to the runner-up


def test_dro_documented_values_and_linprog() -> None:
    r = [1.0, 0.9, 0.0]
    np.testing.assert_allclose(dro_weights(r, 2.0), [1 / 3] * 3)
    np.testing.assert_allclose(dro_weights(r, 0.5), [0.5, 0.5, 0.0])
    rng = np.random.default_rng(1)
    for _ in range(200):
        k = int(rng.integers(2, 9))
        r = rng.normal(size=k)
        eps = float(rng.uniform(0.0, 4.0))
        p = dro_weights(r, eps)
        assert abs(p.sum() - 1) < 1e-12
        assert abs(p @ r - eps * p.max() - _dro_lp(r, eps)) < 1e-7


def test_drro_and_dro_reject_bad_input() -> None:
    with pytest.raises(RewardlabError, match="eps"):
        drro_weights([1.0, 0.0], -1.0)
    with pytest.raises(RewardlabError, match="r_hat"):
        dro_weights([], 1.0)
    with pytest.raises(RewardlabError, match="p:"):
        drro_wcr([1.0], [1.0, 0.0], 0.5)


def test_drro_bonus_hand_example() -> None:
    # v = r - eps p = (0.75, 0.9, -0.15): k* = 1, r_tilde = (1, 1.5, 0), mean 5/6, std sqrt(7/18)
    r, p = [1.0, 1.0, 0.0], [0.5, 0.2, 0.3]
    a = drro_bonus_advantages(r, p, 0.5, np.random.default_rng(0))
    rt = np.array([1.0, 1.5, 0.0])
    np.testing.assert_allclose(a, (rt - 5 / 6) / (np.sqrt(7 / 18) + 1e-6))
    # a tie in v: k* is uniform over the tied samples
    counts = np.zeros(3)
    rng = np.random.default_rng(1)
    for _ in range(400):
        counts[np.argmax(drro_bonus_advantages([1.0, 1.0, 0.0], [0.4, 0.4, 0.2], 0.5, rng))] += 1
    assert counts[2] == 0 and 150 < counts[0] < 250
    # eps = 0 is plain GRPO
    r2 = np.array([0.2, 0.7, 0.1, 0.4])
    np.testing.assert_allclose(drro_bonus_advantages(r2, [0.25] * 4, 0.0, rng),
                               (r2 - r2.mean()) / (r2.std() + 1e-6))


def test_tea_n1_is_mean_baseline() -> None:
    r = np.random.default_rng(2).normal(size=10)
    np.testing.assert_allclose(tea_advantages(r, 1), r - r.mean(), atol=1e-12)


def test_exact_u_statistic_matches_enumeration() -> None:
    rng = np.random.default_rng(3)
    for m in (3, 5, 7):
        r = rng.normal(size=m)
        for n in range(1, m + 1):
            brute_max = np.mean([max(s) for s in combinations(r, n)])
            assert abs(tea_expected_max(r, n) - brute_max) < 1e-10
            h = np.array([np.mean([max([r[i], *s]) for s in combinations(np.delete(r, i), n - 1)])
                          for i in range(m)])
            np.testing.assert_allclose(tea_advantages(r, n), h - h.mean(), atol=1e-10)


def test_tea_expected_max_exponential_tail() -> None:
    h_256 = float(np.sum(1.0 / np.arange(1, 257)))
    rng = np.random.default_rng(4)
    est = [tea_expected_max(rng.exponential(size=64), 256) for _ in range(1000)]
    assert abs(np.mean(est) - h_256) < 0.1


def test_tea_advantages_tail_properties() -> None:
    r = np.random.default_rng(5).exponential(size=32)
    a = tea_advantages(r, 1000)
    assert abs(a.sum()) < 1e-9
    order = np.argsort(r)
    assert np.all(np.diff(a[order]) >= -1e-12)  # h_N is increasing
    # h_N'(r) = F(r)^(N-1): with large N only the top of the sample gains; the bottom half is flat
    low = order[: 16]
    assert np.ptp(a[low]) < 1e-9 * max(1.0, np.ptp(a))


def test_tea_rejects_bad_input() -> None:
    with pytest.raises(RewardlabError, match="N"):
        tea_advantages([1.0, 2.0], 0)
    with pytest.raises(RewardlabError, match="at least 2"):
        tea_expected_max([1.0], 3)


def _f_hat(x: np.ndarray, t: float) -> float:
    """ALGORITHMS.md's TEA CDF written out directly: empirical below u = x_(m-k), exponential tail above."""
    xs = np.sort(x)
    m = xs.size
    k = max(1, m // 4)
    u = xs[m - k - 1]
    if t < u:
        return float(np.sum(xs <= t)) / m
    scale = np.mean(xs[m - k:] - u)
    return 1.0 - k / m * np.exp(-(t - u) / scale)


def test_tea_matches_numerical_integration() -> None:
    from scipy.integrate import quad

    rng = np.random.default_rng(6)
    for m, n in ((8, 9), (8, 20), (12, 50)):
        x = rng.normal(size=m)
        xs = np.sort(x)
        pts = list(xs)

        def upper(t0: float, power: int, x: np.ndarray = x, pts: list[float] = pts) -> float:
            inner = [p for p in pts if p > t0]
            lo = quad(lambda t: 1 - _f_hat(x, t) ** power, t0, max(pts), points=inner or None, limit=200)[0]
            return lo + quad(lambda t: 1 - _f_hat(x, t) ** power, max(pts), np.inf)[0]

        assert abs(tea_expected_max(x, n) - (xs[0] + upper(xs[0], n))) < 1e-6
        h = np.array([xi + upper(xi, n - 1) for xi in x])
        np.testing.assert_allclose(tea_advantages(x, n), h - h.mean(), atol=1e-6)
