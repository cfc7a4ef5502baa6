"""Harm-aware reward-error metrics (ALGORITHMS.md section 3) against brute force and an exact softmax bandit."""

from __future__ import annotations

import numpy as np
import pytest

from rewardlab.stats.harm import ascent_terms, base_probabilities, harm_aware_metrics, harmful_error_mass


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def _brute(proxy: list[float], gold: list[float], pi0: list[float]) -> tuple[float, float | None]:
    """H and rho with plain loops, straight from the definitions."""
    mr = sum(p * r for p, r in zip(pi0, gold, strict=True))
    mh = sum(p * h for p, h in zip(pi0, proxy, strict=True))
    harm = sum(p for p, h, r in zip(pi0, proxy, gold, strict=True) if h > mh + 1e-9 and r < mr - 1e-9)
    num = sum(p * p * (r - mr) * (h - mh) for p, h, r in zip(pi0, proxy, gold, strict=True))
    den = sum(p * p * (r - mr) ** 2 for p, r in zip(pi0, gold, strict=True))
    return harm, (num / den if den > 1e-18 else None)


def test_matches_brute_force_with_a_given_base_policy():
    rng = np.random.default_rng(0)
    for _ in range(50):
        m = int(rng.integers(2, 9))
        p, g, lp = rng.normal(size=(3, m)), rng.normal(size=(3, m)), rng.normal(size=(3, m))
        pi0 = base_probabilities((3, m), lp)
        h = harmful_error_mass(p, g, pi0)
        num, den, _ = ascent_terms(p, g, pi0)
        for i in range(3):
            bh, brho = _brute(list(p[i]), list(g[i]), list(pi0[i]))
            assert h[i] == pytest.approx(bh, abs=1e-12)
            assert num[i] / den[i] == pytest.approx(brho, rel=1e-9)


def test_pooled_metrics_and_constant_gold_prompts():
    rng = np.random.default_rng(1)
    g = rng.normal(size=(40, 5))
    g[:3] = 2.0  # no ascent direction: left out of rho and counted
    p = g + rng.normal(scale=0.7, size=g.shape)
    m = harm_aware_metrics(p, g, n_resamples=300, seed=3)
    pi0 = np.full(g.shape, 0.2)
    num, den, dh = ascent_terms(p, g, pi0)
    keep = np.arange(40) >= 3
    assert m["n_constant_gold"] == 3 and m["n_prompts"] == 40 and m["pi0"] == "uniform"
    assert m["ascent_alignment"]["estimate"] == pytest.approx(num[keep].sum() / den[keep].sum())
    assert m["ascent_cosine"]["estimate"] == pytest.approx(np.mean(num[keep] / np.sqrt(den[keep] * dh[keep])))
    assert m["harmful_error_mass"]["estimate"] == pytest.approx(harmful_error_mass(p, g, pi0).mean())
    for k in ("harmful_error_mass", "ascent_alignment", "ascent_cosine"):
        assert m[k]["lo"] <= m[k]["estimate"] <= m[k]["hi"]
    # a perfect proxy: rho = cosine = 1, no harmful mass; a reversed one: -1 and the mass of the truly bad half
    perfect = harm_aware_metrics(3 * g + 1, g, n_resamples=0)
    assert perfect["ascent_alignment"]["estimate"] == pytest.approx(3.0)
    assert perfect["ascent_cosine"]["estimate"] == pytest.approx(1.0)
    assert perfect["harmful_error_mass"]["estimate"] == 0.0
    assert harm_aware_metrics(-g, g, n_resamples=0)["ascent_cosine"]["estimate"] == pytest.approx(-1.0)
    # ties with the mean are not "above" / "below": the gold-average response the proxy pushes up is no harm
    tie = harm_aware_metrics(np.array([[0.0, 2.0, 1.0, 1.0]]), np.array([[0.0, 1.0, 2.0, 1.0]]), n_resamples=0)
    assert tie["harmful_error_mass"]["estimate"] == 0.0
    assert harm_aware_metrics(np.array([[0.0, 2.0, 1.0]]), np.array([[1.0, 0.0, 2.0]]),
                              n_resamples=0)["harmful_error_mass"]["estimate"] == pytest.approx(1 / 3)


def test_sign_of_ascent_alignment_predicts_the_gold_change_of_a_small_policy_gradient_step():
    """Toy bandit: a softmax policy at pi_0 takes one small exact policy-gradient step on the proxy; the change of
    the true expected reward is computed exactly from the new softmax. Issue 28: sign agreement >= 95%."""
    rng = np.random.default_rng(2024)
    agree, n = 0, 1000
    for _ in range(n):
        m = int(rng.integers(2, 11))
        theta = rng.normal(scale=1.5, size=m)
        gold = rng.normal(size=m)
        proxy = rng.uniform(-1, 1) * gold + rng.normal(scale=rng.uniform(0.1, 2.0), size=m)
        pi = _softmax(theta)
        step = 1e-3 * pi * (proxy - pi @ proxy)  # exact gradient of E_pi[proxy] w.r.t. the logits
        change = _softmax(theta + step) @ gold - pi @ gold
        rho = harm_aware_metrics(proxy[None], gold[None], theta[None], n_resamples=0)["ascent_alignment"]["estimate"]
        agree += np.sign(rho) == np.sign(change)
    assert agree / n >= 0.95


def _gold_rate(theta: np.ndarray, gold: np.ndarray, f: np.ndarray, eta: float = 1e-5) -> float:
    """d/dt E_pi[gold] when the logits follow the exact gradient of E_pi[f] (central difference)."""
    pi = _softmax(theta)
    d = pi * (f - pi @ f)
    return (_softmax(theta + eta * d) @ gold - _softmax(theta - eta * d) @ gold) / (2 * eta)


def test_ascent_alignment_is_the_relative_rate_of_gold_increase_under_the_flow():
    """rho = (d/dt E[r] following the proxy's gradient) / (d/dt E[r] following r's own), by central differences."""
    rng = np.random.default_rng(5)
    for _ in range(20):
        m = int(rng.integers(3, 8))
        theta, gold, proxy = rng.normal(size=m), rng.normal(size=m), rng.normal(size=m)
        rho = harm_aware_metrics(proxy[None], gold[None], theta[None], n_resamples=0)["ascent_alignment"]["estimate"]
        assert rho == pytest.approx(_gold_rate(theta, gold, proxy) / _gold_rate(theta, gold, gold), rel=1e-5, abs=1e-8)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="one shape"):
        harm_aware_metrics(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(ValueError, match="at least 2"):
        harm_aware_metrics(np.zeros((2, 1)), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="finite"):
        harm_aware_metrics(np.array([[0.0, np.nan]]), np.zeros((1, 2)))
