"""Evaluation metrics logged during training (accuracy, NLL, ECE, Brier, gap), Gaussian heads included."""

from __future__ import annotations

import math

import numpy as np
import pytest
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


def test_scalar_ensemble_is_scored_with_sigmoid_of_mean_not_probit_of_spread():
    """Regression: a BT-trained scalar ensemble's tiny member spread must not be read as a probit variance."""
    import torch

    from rewardlab.data.formats import detect_spec, parse_pair
    from rewardlab.models import HeadSpec, build_reward_model
    from rewardlab.simulate import simulate_pairs
    from rewardlab.train.collate import PairCollator, encode_pairs
    from rewardlab.train.frozen import example_features, predict_pairs
    from rewardlab.train.losses import get_loss
    from rewardlab.train.trainer import RewardTrainingModule

    rows = simulate_pairs(6, seed=1)
    pairs = [parse_pair(r, detect_spec(rows[0])) for r in rows]
    for spec, width in ((HeadSpec("ensemble", 3), 2), (HeadSpec("ensemble", 3, True), 4), (HeadSpec("gaussian"), 4)):
        lm = build_reward_model("minilm", spec)
        ex = encode_pairs(lm.renderer, pairs)
        module = RewardTrainingModule(lm.model, get_loss("gaussian" if spec.member_gaussian else "bt")).eval()
        with torch.no_grad():
            out = module(**PairCollator(lm.tokenizer.pad_token_id)(ex))
        assert ("chosen_var" in out) == (width == 4)
        fc, fr = example_features(lm.model, ex, lm.tokenizer.pad_token_id, progress=False)
        preds = predict_pairs(lm.model, fc, fr)
        assert preds.shape == (6, width)
        # values, by formula from the raw head outputs: mean of members; var = mean softplus variance + spread
        k = spec.n_members
        for col, feats in ((0, fc), (1, fr)):
            raw = lm.model.head_logits(feats).detach().double().numpy()
            np.testing.assert_allclose(preds[:, col], raw[:, :k].mean(1), atol=1e-5)
            if width == 4:
                var = (np.logaddexp(0, raw[:, k:]) + 1e-6).mean(1) + raw[:, :k].var(1)
                np.testing.assert_allclose(preds[:, 2 + col], var, rtol=1e-5)
        np.testing.assert_allclose(out["chosen"].numpy(), preds[:, 0], atol=1e-4)
        # the scalar ensemble's probability is sigmoid(mean delta): its metrics equal those of two columns
        m = pair_eval_metrics(preds, np.ones(6))
        if width == 2:
            assert m["nll"] == pytest.approx(float(np.mean(np.logaddexp(0, -(preds[:, 0] - preds[:, 1])))))
