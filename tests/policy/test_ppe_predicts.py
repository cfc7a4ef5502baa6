"""The oracle best-of-N pieces (`bon_expected_max_exact`, `bon_advantages_exact`) against brute-force enumeration,
and the statistics of benchmarks/ppe_predicts_optimisation.py and benchmarks/tea_positive_control.py against scipy
and by hand."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from rewardlab.errors import RewardlabError
from rewardlab.policy.robust import bon_advantages_exact, bon_expected_max_exact, tea_advantages

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import ppe_predicts_optimisation as ppe  # noqa: E402
import tea_positive_control as tpc  # noqa: E402


def _brute_max(values: np.ndarray, probs: np.ndarray, n: int) -> float:
    """E[max of n draws] by enumerating every n-tuple of support indices."""
    total = 0.0
    for idx in itertools.product(range(values.size), repeat=n):
        total += float(np.prod(probs[list(idx)])) * float(values[list(idx)].max())
    return total


def _brute_h(r: float, values: np.ndarray, probs: np.ndarray, n: int) -> float:
    """E[max(r, M_{n-1})] by enumeration of the n - 1 other draws."""
    if n == 1:
        return r
    total = 0.0
    for idx in itertools.product(range(values.size), repeat=n - 1):
        total += float(np.prod(probs[list(idx)])) * max(r, float(values[list(idx)].max()))
    return total


@pytest.mark.parametrize("seed", range(6))
def test_exact_expected_max_matches_enumeration(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 5))
    values = rng.normal(size=k).round(2)
    probs = rng.dirichlet(np.ones(k))
    for n in (1, 2, 3, 4):
        assert bon_expected_max_exact(values, probs, n) == pytest.approx(_brute_max(values, probs, n), abs=1e-12)


def test_exact_expected_max_merges_ties_and_normalises() -> None:
    # support given twice and unnormalised: the same law as {0: 0.5, 1: 0.5}
    assert bon_expected_max_exact([1.0, 0.0, 1.0], [1.0, 2.0, 1.0], 2) == pytest.approx(0.75)
    with pytest.raises(RewardlabError):
        bon_expected_max_exact([0.0, 1.0], [0.5], 2)
    with pytest.raises(RewardlabError):
        bon_expected_max_exact([0.0, 1.0], [0.5, 0.5], 0)


@pytest.mark.parametrize("seed", range(6))
def test_oracle_advantages_match_enumeration(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    k = int(rng.integers(2, 5))
    values = rng.normal(size=k).round(2)
    probs = rng.dirichlet(np.ones(k))
    r = rng.choice(values, size=5)
    for n in (1, 2, 3, 4):
        h = np.array([_brute_h(float(x), values, probs, n) for x in r])
        np.testing.assert_allclose(bon_advantages_exact(r, values, probs, n), h - h.mean(), atol=1e-12)


def test_oracle_advantages_are_the_gradient_of_the_best_of_n_value() -> None:
    # a softmax policy over the support itself: d/dtheta E[max of N] = N E[h_N(r) dlog pi] (finite differences)
    rng = np.random.default_rng(7)
    values = np.array([0.0, 0.4, 1.0, 2.5])
    theta = rng.normal(size=4)
    n = 5

    def probs(t: np.ndarray) -> np.ndarray:
        e = np.exp(t - t.max())
        return e / e.sum()

    p = probs(theta)
    a = bon_advantages_exact(values, values, p, n)  # h_N(v_k) - mean_k h (the mean cancels below)
    h = a + 0.0
    grad = n * np.array([np.sum(p * h * ((np.arange(4) == j) - p[j])) for j in range(4)])
    eps = 1e-6
    fd = np.array([(bon_expected_max_exact(values, probs(theta + eps * np.eye(4)[j]), n)
                    - bon_expected_max_exact(values, probs(theta - eps * np.eye(4)[j]), n)) / (2 * eps)
                   for j in range(4)])
    np.testing.assert_allclose(grad, fd, atol=1e-7)


def test_oracle_agrees_with_tea_u_statistic_on_the_empirical_law() -> None:
    # TEA's exact branch (N <= m) takes the other m - 1 rollouts without replacement; with a law equal to the
    # rollouts' empirical one and N = 2 the two differ only by the self term: check the sign pattern and N = 1
    r = np.array([0.0, 1.0, 2.0, 3.0])
    np.testing.assert_allclose(bon_advantages_exact(r, r, np.ones(4), 1), tea_advantages(r, 1))
    a = bon_advantages_exact(r, r, np.ones(4), 2)
    assert np.all(np.diff(a) > 0) and abs(a.sum()) < 1e-12


def test_spearman_ci_matches_scipy_and_covers() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=12)
    y = x + rng.normal(scale=0.5, size=12)
    out = ppe.spearman_ci(x, y, resamples=300, seed=1)
    assert out["rho"] == pytest.approx(float(spearmanr(x, y).statistic), abs=1e-12)
    assert out["n"] == 12 and out["lo"] <= out["rho"] <= out["hi"] and out["resamples_used"] >= 290
    # by hand: a perfectly monotone relation gives rho 1 in every resample that is not constant
    mono = ppe.spearman_ci(np.arange(8.0), np.arange(8.0) ** 3, resamples=200, seed=0)
    assert mono["rho"] == pytest.approx(1.0) and mono["lo"] == pytest.approx(1.0) and mono["hi"] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        ppe.spearman_ci([1.0, 2.0], [1.0, 2.0])


def test_permutation_p_separates_signal_from_noise() -> None:
    rng = np.random.default_rng(5)
    x = np.arange(13.0)
    assert ppe.permutation_p(x, x + rng.normal(scale=0.1, size=13), perms=400) < 0.01
    assert ppe.permutation_p(x, rng.permutation(13).astype(float), perms=400, seed=2) > 0.01


def test_sim_scorer_gives_attribute_rewards_to_evaluation_records() -> None:
    from rewardlab.policy.rewards import Rewarder
    from rewardlab.simulate.datasets import simulator_eval_sets
    from rewardlab.simulate.responses import gold_utility

    sets = simulator_eval_sets(n_pairs=10, n_pools=3, n_battles=10)
    scorer = ppe.SimScorer(Rewarder("gold"), ppe.attr_index(sets))
    pairs = sets["sim_pairs"]
    out = scorer.score([p.prompt for p in pairs], [p.chosen for p in pairs])
    np.testing.assert_allclose(out.mean, [gold_utility(p.extra["attrs_chosen"]) for p in pairs])
    assert ppe.dig({"a": {"b": [1.0, 2.5]}}, ("a", "b", -1)) == 2.5
    assert np.isnan(ppe.dig({"a": {}}, ("a", "b")))


def test_grpo_frontier_interpolation() -> None:
    kls, vals = np.array([0.5, 0.0, 2.0]), np.array([2.0, 1.0, 4.0])
    assert tpc.gold_at_kl(kls, vals, 1.25) == pytest.approx(3.0)
    assert np.isnan(tpc.gold_at_kl(kls, vals, 2.5))
    assert tpc.gold_above_kl(kls, vals, 0.2) == 2.0
    assert np.isnan(tpc.gold_above_kl(kls, vals, 3.0))


def test_exact_best_of_n_gold_of_a_policy() -> None:
    from rewardlab.policy.simpolicy import SimPolicy

    pol = SimPolicy.from_base("default")
    assert tpc.bon_gold_exact(pol, 1) == pytest.approx(pol.expected_gold(), abs=1e-9)
    assert tpc.bon_gold_exact(pol, 8) > tpc.bon_gold_exact(pol, 2) > pol.expected_gold()
