"""Evaluation metrics logged during training (accuracy, NLL, ECE, Brier, gap), Gaussian heads included."""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm

from rewardlab.train.trainer import pair_eval_metrics


def test_scalar_predictions_match_hand_values():
    preds = np.array([[1.0, 0.0], [0.0, 2.0], [0.5, 0.5]])
    m = pair_eval_metrics(preds, np.ones(3))
    assert m["accuracy"] == (1 + 0 + 0.5) / 3
    nll = np.mean([math.log1p(math.exp(-1.0)), math.log1p(math.exp(2.0)), math.log(2.0)])
    assert abs(m["nll"] - nll) < 1e-9
    assert abs(m["reward_gap"] - (1 - 2 + 0) / 3) < 1e-12


def test_gaussian_predictions_use_the_probit_probability_and_stay_finite():
    # float32 predictions with a huge z (p rounds to 1 in float32): metrics must stay finite (regression test)
    preds = np.array([[30.0, 0.0, 1e-4, 1e-4], [0.0, 1.0, 1.0, 1.0]], dtype=np.float32)
    m = pair_eval_metrics(preds, np.array([1.0, 1.0]))
    assert all(math.isfinite(v) for v in m.values()), m
    p2 = norm.cdf(-1 / math.sqrt(2))
    p1 = norm.cdf(30 / math.sqrt(2e-4))
    expected_nll = -(math.log(min(p1, 1 - 1e-12)) + math.log(p2)) / 2
    assert abs(m["nll"] - expected_nll) < 1e-6
    assert abs(m["reward_gap"] - (30 - 1) / 2) < 1e-5
