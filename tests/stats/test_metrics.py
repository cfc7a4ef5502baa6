"""Pairwise metrics, paired comparisons, RewardBench-style scores, graded and gold metrics."""

import json
import random

import numpy as np
import pytest
from scipy import stats

from rewardlab.stats.metrics import (
    best_of_4_accuracy,
    best_of_4_credit,
    compare_models,
    gold_agreement,
    graded_metrics,
    length_baselines,
    pairwise_metrics,
)


def _plain(obj):
    """True if obj contains only JSON-native Python types (no numpy scalars, no NaN)."""
    if isinstance(obj, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in obj.items())
    if isinstance(obj, list):
        return all(_plain(v) for v in obj)
    return obj is None or type(obj) in (bool, int, float, str)


def test_accuracy_model_ties_count_half():
    res = pairwise_metrics([1, 2, 3, 4, 5], [0, 2, 5, 4, 1], n_resamples=50)
    # correct, tie, wrong, tie, correct -> (1 + .5 + 0 + .5 + 1) / 5
    assert res["accuracy"]["estimate"] == pytest.approx(0.6)
    assert res["n_model_ties"] == 2
    assert res["model_tie_rate"] == pytest.approx(0.4)
    assert res["reward_gap"]["estimate"] == pytest.approx(np.mean([1, 0, -2, 0, 4]))


def test_labels_hard_and_soft():
    rc, rr = [1.0, 1.0, -1.0, 0.0], [0.0, 0.0, 0.0, 0.0]
    res = pairwise_metrics(rc, rr, labels=[1, 0, 0, 1], n_resamples=20)
    assert res["accuracy"]["estimate"] == pytest.approx((1 + 0 + 1 + 0.5) / 4)
    assert res["label_kind"] == "hard"
    soft = pairwise_metrics(rc, rr, labels=[0.8, 0.3, 0.1, 0.9], n_resamples=20)
    assert soft["accuracy"]["estimate"] == pytest.approx((0.8 + 0.3 + 0.9 + 0.5) / 4)
    assert soft["label_kind"] == "soft"
    # gap is oriented towards the preferred side: (2y-1) * Delta
    assert res["reward_gap"]["estimate"] == pytest.approx((1 - 1 + 1 + 0) / 4)


def test_length_baselines_hand_count():
    lc = [10, 5, 7, 7, 20, 1]
    lr = [3, 9, 7, 2, 30, 0]
    # longer wins on: 10>3 yes, 5<9 no, tie .5, 7>2 yes, 20<30 no, 1>0 yes -> 3.5/6
    res = length_baselines(lc, lr, n_resamples=50)
    assert res["longer"]["estimate"] == pytest.approx(3.5 / 6)
    assert res["shorter"]["estimate"] == pytest.approx(2.5 / 6)
    assert res["n_length_ties"] == 1
    # labels flip which side is preferred
    res_y = length_baselines(lc, lr, labels=[0, 1, 1, 1, 1, 1], n_resamples=50)
    assert res_y["longer"]["estimate"] == pytest.approx(2.5 / 6)


def test_full_report_categories_sections_json():
    rng = np.random.default_rng(0)
    n = 600
    cats = np.array(["alpaca", "mtbench", "refusals", "math"] * 150)
    rc = rng.normal(size=n) + 0.8
    rr = rng.normal(size=n)
    lc = rng.integers(50, 500, n)
    lr = np.where(cats == "alpaca", lc - 10, rng.integers(50, 500, n))  # alpaca: chosen always longer
    sections = {"alpaca": "Chat", "mtbench": "Chat", "refusals": "Safety"}
    res = pairwise_metrics(rc, rr, categories=cats, len_chosen=lc, len_rejected=lr, sections=sections, seed=1)
    assert _plain(res)
    json.dumps(res, allow_nan=False)
    per = res["per_category"]
    assert set(per) == {"alpaca", "mtbench", "refusals", "math"}
    correct = np.where(rc > rr, 1.0, np.where(rc < rr, 0.0, 0.5))
    for c in per:
        assert per[c]["accuracy"]["estimate"] == pytest.approx(correct[cats == c].mean())
        assert per[c]["accuracy"]["lo"] <= per[c]["accuracy"]["estimate"] <= per[c]["accuracy"]["hi"]
    assert per["alpaca"]["length_baselines"]["longer"]["estimate"] == 1.0
    assert per["alpaca"]["length_baselines"]["shorter"]["estimate"] == 0.0
    chat = res["sections"]["Chat"]
    weighted = (
        per["alpaca"]["n"] * per["alpaca"]["accuracy"]["estimate"]
        + per["mtbench"]["n"] * per["mtbench"]["accuracy"]["estimate"]
    ) / (per["alpaca"]["n"] + per["mtbench"]["n"])
    assert chat["accuracy"]["estimate"] == pytest.approx(weighted)
    assert chat["categories"] == ["alpaca", "mtbench"] and chat["n"] == 300
    assert res["section_mean"] == pytest.approx(
        (chat["accuracy"]["estimate"] + res["sections"]["Safety"]["accuracy"]["estimate"]) / 2
    )
    assert res["unmapped_categories"] == ["math"]
    for key in ("accuracy", "reward_gap", "nll", "brier", "ece", "nll_calibrated", "ece_calibrated"):
        assert res[key]["lo"] <= res[key]["estimate"] <= res[key]["hi"], key
    assert res["temperature"]["source"] == "in_sample"


def test_temperature_sources():
    rng = np.random.default_rng(1)
    d = rng.normal(0, 2, size=6000)
    y = (rng.random(6000) < 1 / (1 + np.exp(-d))).astype(float)
    val, test = slice(0, 3000), slice(3000, None)
    res = pairwise_metrics(
        3 * d[test],
        np.zeros(3000),
        labels=y[test],
        validation=(3 * d[val], np.zeros(3000), y[val]),
        n_resamples=100,
    )
    assert res["temperature"]["source"] == "validation"
    assert res["temperature"]["value"] == pytest.approx(3.0, abs=0.3)
    assert res["ece_calibrated"]["estimate"] < res["ece"]["estimate"]
    given = pairwise_metrics(d, np.zeros(6000), labels=y, temperature=2.0, n_resamples=20)
    assert given["temperature"] == {
        "value": 2.0,
        "source": "given",
        "note": "temperature supplied by the caller",
    }


def test_cluster_bootstrap_widens_accuracy_ci():
    rng = np.random.default_rng(2)
    prompts = np.repeat(np.arange(30), 20)
    good = rng.random(30) < 0.5  # the RM is right on whole prompts at a time
    rc = np.where(good[prompts], 1.0, -1.0)
    rr = np.zeros(600)
    flat = pairwise_metrics(rc, rr, n_resamples=300)["accuracy"]
    clus = pairwise_metrics(rc, rr, n_resamples=300, cluster=prompts)["accuracy"]
    assert (clus["hi"] - clus["lo"]) > 2 * (flat["hi"] - flat["lo"])


def test_compare_models_clear_winner_and_identical():
    rng = np.random.default_rng(3)
    n = 400
    rr = np.zeros(n)
    rc_a = rng.normal(1.5, 1.0, n)
    rc_b = rng.normal(0.0, 1.0, n)
    res = compare_models(rc_a, rr, rc_b, rr, n_permutations=2000)
    assert res["p_value"] < 0.001
    assert res["difference"]["lo"] > 0
    assert res["accuracy_a"] == pytest.approx(np.mean(rc_a > 0))
    assert res["difference"]["estimate"] == pytest.approx(np.mean(rc_a > 0) - np.mean(rc_b > 0))
    same = compare_models(rc_a, rr, rc_a, rr, n_permutations=200)
    assert same["p_value"] == 1.0 and same["difference"]["estimate"] == 0.0 and same["n_discordant"] == 0
    assert _plain(res)


def test_compare_models_equal_models_pvalues_not_small():
    rng = np.random.default_rng(4)
    ps = []
    for rep in range(60):
        truth = rng.normal(size=300)
        a = truth + rng.normal(0, 1.5, 300)  # two equally good, independent RMs
        b = truth + rng.normal(0, 1.5, 300)
        ps.append(
            compare_models(
                a,
                np.zeros(300),
                b,
                np.zeros(300),
                labels=(truth > 0).astype(float),
                n_resamples=50,
                n_permutations=500,
                seed=rep,
            )["p_value"]
        )
    ps = np.array(ps)
    assert 0.35 <= ps.mean() <= 0.65
    assert np.mean(ps < 0.05) <= 0.15


def test_best_of_4_credit_cases():
    assert best_of_4_credit(5.0, [1.0, 2.0, 3.0]) == 1.0
    assert best_of_4_credit(3.0, [1.0, 3.0, 2.0]) == 0.5
    assert best_of_4_credit(3.0, [3.0, 3.0, 3.0]) == 0.25
    assert best_of_4_credit(2.0, [1.0, 3.0, 0.0]) == 0.0
    assert best_of_4_credit(2.0, [3.0, 3.0, 2.0]) == 0.0


def test_best_of_4_credit_equals_random_tiebreak_probability():
    rng = random.Random(0)
    for _ in range(200):
        scores = [rng.randint(0, 3) for _ in range(4)]
        top = max(scores)
        tied = [i for i, s in enumerate(scores) if s == top]
        # exact probability that uniform tie-breaking among the maxima picks index 0 (the chosen response)
        want = (1.0 / len(tied)) if 0 in tied else 0.0
        assert best_of_4_credit(scores[0], scores[1:]) == pytest.approx(want)
    res = best_of_4_accuracy([3, 1, 2], [[1, 2, 0], [1, 1, 1], [2, 2, 2]], n_resamples=20)
    assert res["accuracy"]["estimate"] == pytest.approx((1 + 0.25 + 0.25) / 3)
    assert res["n_chosen_tied_at_max"] == 2


def test_graded_metrics_match_scipy():
    rng = np.random.default_rng(5)
    true = rng.integers(1, 6, size=200).astype(float)  # ratings with ties
    pred = true + rng.normal(0, 1.5, 200)
    groups = np.repeat(np.arange(40), 5)
    res = graded_metrics(pred, true, groups=groups, n_resamples=200)
    assert res["spearman"]["estimate"] == pytest.approx(stats.spearmanr(pred, true).statistic)
    assert res["kendall"]["estimate"] == pytest.approx(stats.kendalltau(pred, true).statistic)
    per_s, per_k = [], []
    for g in range(40):
        m = groups == g
        if len(set(true[m])) > 1:
            per_s.append(stats.spearmanr(pred[m], true[m]).statistic)
            per_k.append(stats.kendalltau(pred[m], true[m]).statistic)
    assert res["n_groups"] == 40 and res["n_groups_used"] == len(per_s)
    assert res["spearman_within_groups"]["estimate"] == pytest.approx(np.mean(per_s))
    assert res["kendall_within_groups"]["estimate"] == pytest.approx(np.mean(per_k))
    assert res["spearman"]["lo"] <= res["spearman"]["estimate"] <= res["spearman"]["hi"]
    assert _plain(res)


def test_gold_agreement_hand_example():
    r_c = [2.0, 1.0, 0.0, 3.0, 1.0]
    r_r = [1.0, 2.0, 0.0, 1.0, 0.0]
    g_c = [5.0, 5.0, 1.0, 0.0, 2.0]
    g_r = [1.0, 1.0, 0.0, 0.0, 3.0]
    # pair 4 has a gold tie -> excluded; agree, disagree, model tie (.5), disagree
    res = gold_agreement(r_c, r_r, g_c, g_r, n_resamples=50)
    assert res["agreement"]["estimate"] == pytest.approx((1 + 0 + 0.5 + 0) / 4)
    assert res["n_used"] == 4 and res["n_gold_ties"] == 1 and res["n_model_ties"] == 1


@pytest.mark.parametrize("clustered", [False, True])
def test_single_pass_cis_equal_generic_bootstrap(clustered):
    from rewardlab.stats.bootstrap import bootstrap_ci, bootstrap_mean_ci
    from rewardlab.stats.calibration import pairwise_ece

    rng = np.random.default_rng(6)
    n = 300
    d = rng.normal(0, 2, n)
    y = (rng.random(n) < 0.7).astype(float)
    lc, lr = rng.integers(1, 9, n), rng.integers(1, 9, n)
    cl = np.repeat(np.arange(60), 5) if clustered else None
    res = pairwise_metrics(
        d,
        np.zeros(n),
        labels=y,
        len_chosen=lc,
        len_rejected=lr,
        temperature=2.0,
        n_resamples=200,
        seed=3,
        cluster=cl,
    )
    for key, t in (("ece", 1.0), ("ece_calibrated", 2.0)):
        want = bootstrap_ci(
            lambda a, b, t=t: pairwise_ece(a, b, t), d, y, n_resamples=200, seed=3, cluster=cl
        )
        got = res[key]
        assert np.allclose([got["estimate"], got["lo"], got["hi"]], want, atol=1e-12), key
    correct = np.where(d > 0, y, 1 - y)
    want = bootstrap_mean_ci(correct, n_resamples=200, seed=3, cluster=cl)
    got = res["accuracy"]
    assert np.allclose([got["estimate"], got["lo"], got["hi"]], want, atol=1e-12)
    assert res["length_baselines"] == length_baselines(lc, lr, y, n_resamples=200, seed=3, cluster=cl)
