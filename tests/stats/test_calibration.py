"""Calibration metrics against hand-built predictors, scikit-learn and naive reference loops."""

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, log_loss

from rewardlab.stats.calibration import (
    brier_score,
    fit_temperature,
    pairwise_ece,
    preference_nll,
    reliability_diagram,
)


def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def _naive_ece(delta, y, t=1.0, n_bins=10):
    """Independent loop implementation of ALGORITHMS.md's pairwise ECE."""
    total = 0.0
    n = len(delta)
    edges = [0.5 + 0.5 * b / n_bins for b in range(n_bins + 1)]
    for b in range(n_bins):
        confs, accs = [], []
        for d, yy in zip(delta, y, strict=True):
            p = _sig(d / t)
            conf = max(p, 1 - p)
            last = b == n_bins - 1
            if edges[b] <= conf < edges[b + 1] or (last and conf == edges[-1]):
                confs.append(conf)
                accs.append(yy if d > 0 else (1 - yy if d < 0 else 0.5))
        if confs:
            total += len(confs) / n * abs(np.mean(accs) - np.mean(confs))
    return total


@pytest.fixture(scope="module")
def synthetic():
    rng = np.random.default_rng(0)
    delta = rng.normal(0.0, 2.0, size=200_000)
    y = (rng.random(delta.size) < _sig(delta)).astype(float)
    return delta, y


def test_calibrated_predictor_has_ece_near_zero(synthetic):
    delta, y = synthetic
    assert pairwise_ece(delta, y) < 0.01
    assert fit_temperature(delta, y) == pytest.approx(1.0, abs=0.05)


def test_overconfident_predictor_fixed_by_temperature(synthetic):
    delta, y = synthetic
    scaled = 3.0 * delta
    before = pairwise_ece(scaled, y)
    t = fit_temperature(scaled, y)
    after = pairwise_ece(scaled, y, temperature=t)
    assert before > 0.08
    assert t == pytest.approx(3.0, abs=0.15)
    assert after < 0.01 and after < before / 5
    assert preference_nll(scaled, y, t) < preference_nll(scaled, y)


def test_fit_temperature_is_nll_minimum_on_grid():
    rng = np.random.default_rng(1)
    delta = rng.normal(0, 3, size=3000)
    y = (rng.random(3000) < _sig(delta / 2.0)).astype(float)
    t = fit_temperature(delta, y)
    grid = np.exp(np.linspace(np.log(0.5), np.log(8), 2001))
    nll = [preference_nll(delta, y, g) for g in grid]
    assert preference_nll(delta, y, t) <= min(nll) + 1e-9
    assert t == pytest.approx(grid[int(np.argmin(nll))], rel=0.01)


def test_fit_temperature_separable_hits_lower_bound():
    assert fit_temperature([1.0, 2.0, 3.0], [1, 1, 1], bounds=(0.01, 100)) == pytest.approx(0.01)


def test_nll_and_brier_match_sklearn():
    rng = np.random.default_rng(2)
    delta = rng.normal(0, 2, size=500)
    y = (rng.random(500) < 0.6).astype(int)
    for t in (1.0, 2.5):
        p = _sig(delta / t)
        assert preference_nll(delta, y, t) == pytest.approx(log_loss(y, p, labels=[0, 1]), rel=1e-9)
        assert brier_score(delta, y, t) == pytest.approx(brier_score_loss(y, p), rel=1e-9)


def test_default_labels_mean_chosen_preferred():
    delta = np.array([0.3, -1.2, 2.0])
    assert preference_nll(delta) == pytest.approx(np.mean(np.log1p(np.exp(-delta))))
    assert brier_score(delta) == pytest.approx(np.mean((_sig(delta) - 1) ** 2))


def test_soft_labels_nll_is_cross_entropy():
    delta = np.array([1.0, -0.5, 0.0, 2.0])
    y = np.array([0.7, 0.2, 0.5, 1.0])
    p = _sig(delta)
    want = np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)))
    assert preference_nll(delta, y) == pytest.approx(want)


def test_nll_stable_for_huge_margins():
    assert preference_nll([-1e4], [1.0]) == pytest.approx(1e4)
    assert preference_nll([1e4], [1.0]) == pytest.approx(0.0, abs=1e-12)
    assert np.isfinite(brier_score([1e6, -1e6], [0.0, 1.0]))


def test_ece_matches_naive_loop_hard_and_soft():
    rng = np.random.default_rng(3)
    delta = np.concatenate([rng.normal(0, 2, size=400), [0.0, 0.0]])  # include model ties
    y_hard = (rng.random(delta.size) < 0.7).astype(float)
    y_soft = rng.random(delta.size)
    for y in (y_hard, y_soft):
        for t in (1.0, 0.4):
            assert pairwise_ece(delta, y, t) == pytest.approx(_naive_ece(delta, y, t), abs=1e-12)


def test_ece_hand_example():
    # p = 0.55 twice (one right, one wrong) -> bin [0.55, 0.6): acc 0.5, conf 0.55
    # p = 0.95 once, right -> bin [0.95, 1]: acc 1, conf 0.95
    d55, d95 = np.log(0.55 / 0.45), np.log(0.95 / 0.05)
    ece = pairwise_ece([d55, d55, d95], [1, 0, 1])
    assert ece == pytest.approx(2 / 3 * 0.05 + 1 / 3 * 0.05)


def test_symmetry_under_swapping_sides():
    rng = np.random.default_rng(4)
    delta, y = rng.normal(size=300), rng.random(300)
    assert pairwise_ece(-delta, 1 - y) == pytest.approx(pairwise_ece(delta, y))
    assert preference_nll(-delta, 1 - y) == pytest.approx(preference_nll(delta, y))
    assert brier_score(-delta, 1 - y) == pytest.approx(brier_score(delta, y))


def test_reliability_diagram_consistent():
    rng = np.random.default_rng(5)
    delta = rng.normal(0, 2, size=1000)
    y = (rng.random(1000) < _sig(delta)).astype(float)
    rd = reliability_diagram(delta, y)
    assert sum(rd["count"]) == 1000 and len(rd["count"]) == 10
    assert rd["bin_lower"][0] == 0.5 and rd["bin_upper"][-1] == 1.0
    assert rd["ece"] == pytest.approx(pairwise_ece(delta, y))
    recomputed = sum(
        c / 1000 * abs(a - m)
        for c, a, m in zip(rd["count"], rd["accuracy"], rd["mean_confidence"], strict=True)
        if c
    )
    assert recomputed == pytest.approx(rd["ece"])
    for c, a, m, lo, hi in zip(
        rd["count"], rd["accuracy"], rd["mean_confidence"], rd["bin_lower"], rd["bin_upper"], strict=True
    ):
        if c == 0:
            assert a is None and m is None
        else:
            assert lo <= m <= hi and 0 <= a <= 1


def test_invalid_inputs():
    with pytest.raises(ValueError):
        preference_nll([1.0], [1.5])
    with pytest.raises(ValueError):
        brier_score([1.0, 2.0], [1.0])
    with pytest.raises(ValueError):
        pairwise_ece([1.0], [1.0], temperature=0.0)
