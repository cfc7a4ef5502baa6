"""PPE metrics: Bradley-Terry fits vs scikit-learn and known strengths, best-of-K vs brute force."""

import itertools
import json
import math

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from rewardlab.stats.ppe import (
    _bok_weights,
    arena_rating,
    best_of_k_curve,
    fit_bradley_terry,
    normalize_winner,
    oracle_best_of_k_curve,
    ppe_correctness_metrics,
    ppe_preference_metrics,
    prompt_roc_auc,
    win_rate_matrix,
)

MODELS = ["m0", "m1", "m2", "m3", "m4", "m5"]
BETA_TRUE = np.array([-1.0, -0.5, 0.0, 0.3, 0.7, 1.2])
BETA_TRUE = BETA_TRUE - BETA_TRUE.mean()


def _battles(n, seed=0, tie_rate=0.1):
    rng = np.random.default_rng(seed)
    ia = rng.integers(0, 6, n)
    ib = (ia + rng.integers(1, 6, n)) % 6
    p = 1 / (1 + np.exp(-(BETA_TRUE[ia] - BETA_TRUE[ib])))
    u = rng.random(n)
    winner = np.where(u < p, "model_a", "model_b").astype(object)
    winner[rng.random(n) < tie_rate] = "tie"
    return [MODELS[i] for i in ia], [MODELS[i] for i in ib], list(winner)


@pytest.fixture(scope="module")
def battles():
    return _battles(30000, tie_rate=0.1)


def test_bt_recovers_known_strengths():
    # ties drawn independently of strength would (correctly) shrink the fitted strengths, so none here
    fit = fit_bradley_terry(*_battles(30000, seed=3, tie_rate=0.0))
    assert fit["models"] == MODELS
    assert np.max(np.abs(np.array(fit["beta"]) - BETA_TRUE)) < 0.08
    ratings = np.array(fit["rating"])
    assert np.allclose(ratings, arena_rating(BETA_TRUE), atol=0.08 * 400 / math.log(10))


def test_bt_matches_sklearn_logistic_regression():
    a, b, w = _battles(3000, seed=1)
    y = normalize_winner(w)
    fit = fit_bradley_terry(a, b, w)
    idx = {m: i for i, m in enumerate(fit["models"])}
    x = np.zeros((len(a), 6))
    x[np.arange(len(a)), [idx[m] for m in a]] = 1.0
    x[np.arange(len(a)), [idx[m] for m in b]] = -1.0
    # ties as half a win each way: duplicate every battle with outcomes 1 and 0 weighted y and 1 - y
    xx = np.vstack([x, x])
    yy = np.concatenate([np.ones(len(y)), np.zeros(len(y))])
    sw = np.concatenate([y, 1 - y])
    keep = sw > 0
    lr = LogisticRegression(fit_intercept=False, C=1e6, tol=1e-12, max_iter=10000)
    lr.fit(xx[keep], yy[keep], sample_weight=sw[keep])
    coef = lr.coef_[0] - lr.coef_[0].mean()
    assert np.allclose(fit["beta"], coef, atol=1e-4)
    assert np.allclose(fit["rating"], 400 * coef / math.log(10) + 1000, atol=0.05)
    assert np.mean(fit["rating"]) == pytest.approx(1000.0)


def test_bt_undefeated_model_stays_finite():
    fit = fit_bradley_terry(["x", "x", "y"], ["y", "z", "z"], ["model_a", "model_a", "tie"])
    assert all(np.isfinite(fit["beta"])) and fit["beta"][0] > fit["beta"][1]


def test_normalize_winner():
    assert list(normalize_winner(["model_a", "B", "tie (bothbad)", 1, 0.5])) == [1.0, 0.0, 0.5, 1.0, 0.5]
    with pytest.raises(ValueError):
        normalize_winner(["draw?"])


def test_win_rate_matrix_hand_example():
    w = win_rate_matrix(["x", "x", "y", "x"], ["y", "y", "x", "z"], ["model_a", "tie", "model_a", "model_b"])
    # x vs y: x wins battle 1, ties battle 2, loses battle 3 -> 1.5 / 3
    assert w["models"] == ["x", "y", "z"]
    assert w["win_rate"][0][1] == pytest.approx(0.5) and w["win_rate"][1][0] == pytest.approx(0.5)
    assert w["win_rate"][0][2] == 0.0 and w["win_rate"][2][0] == 1.0
    assert w["win_rate"][1][2] is None and w["win_rate"][0][0] is None


def test_rm_equal_to_human_labels_is_perfect(battles):
    a, b, w = battles
    y = normalize_winner(w)
    res = ppe_preference_metrics(a, b, w, rm_score_a=y, rm_score_b=1 - y, n_bootstrap=100)
    json.dumps(res, allow_nan=False)
    assert res["spearman"] == pytest.approx(1.0) and res["kendall"] == pytest.approx(1.0)
    assert res["rowwise_pearson"] == pytest.approx(1.0) and res["n_rows_used"] == 6
    assert res["accuracy"]["estimate"] == 1.0
    assert res["n_rm_ties"] == res["n_human_ties"]
    for m in MODELS:
        assert res["rm_ratings"][m]["rating"] == pytest.approx(res["human_ratings"][m]["rating"])
        assert res["rm_ratings"][m]["lo"] <= res["rm_ratings"][m]["rating"] <= res["rm_ratings"][m]["hi"]
    # identical labels -> identical bootstrap CIs -> every separated pair agrees
    assert res["confidence_agreement"] == pytest.approx(res["separability"])
    assert res["separability"] > 0.8
    assert res["brier"] < 0.05
    # human ratings are the plain BT fit on the human labels, in order of true strength
    got = np.array([res["human_ratings"][m]["rating"] for m in MODELS])
    assert np.allclose(got, fit_bradley_terry(a, b, w)["rating"])
    assert np.all(np.diff(got) > 0)


def test_reversed_and_random_rms(battles):
    a, b, w = battles
    y = normalize_winner(w)
    rev = ppe_preference_metrics(a, b, w, rm_score_a=1 - y, rm_score_b=y, n_bootstrap=30)
    assert rev["spearman"] == pytest.approx(-1.0)
    assert rev["confidence_agreement"] < -0.5
    assert rev["brier"] > 0.9
    rng = np.random.default_rng(0)
    rnd = ppe_preference_metrics(a, b, w, rng.normal(size=len(a)), rng.normal(size=len(a)), n_bootstrap=30)
    assert abs(rnd["accuracy"]["estimate"] - 0.5) < 0.02
    assert rnd["separability"] < 0.5


def _brute_bok(scores, correct, k):
    """Average over all K-subsets of the mean correctness of the subset's tied maxima."""
    vals = []
    for sub in itertools.combinations(range(len(scores)), k):
        top = max(scores[i] for i in sub)
        vals.append(np.mean([correct[i] for i in sub if scores[i] == top]))
    return float(np.mean(vals))


def _brute_bok_tie_orderings(scores, correct, k):
    """Independent tie reference: average the tie-free formula over every ordering of tied scores."""
    n = len(scores)
    results = []
    for perm in itertools.permutations(range(n)):
        rank = {i: r for r, i in enumerate(perm)}  # tie-break by position in perm
        total = 0.0
        subs = list(itertools.combinations(range(n), k))
        for sub in subs:
            best = max(sub, key=lambda i: (scores[i], rank[i]))
            total += correct[best]
        results.append(total / len(subs))
    return float(np.mean(results))


@pytest.mark.parametrize("seed", range(5))
def test_best_of_k_matches_brute_force_without_ties(seed):
    rng = np.random.default_rng(seed)
    n = 7
    s = rng.normal(size=n)
    c = rng.integers(0, 2, n)
    curve = best_of_k_curve(s, c)
    for k in range(1, n + 1):
        assert curve[k - 1] == pytest.approx(_brute_bok(s, c, k), abs=1e-12)
    assert curve[0] == pytest.approx(c.mean()) and curve[-1] == c[np.argmax(s)]


@pytest.mark.parametrize("seed", range(5))
def test_best_of_k_matches_brute_force_with_ties(seed):
    rng = np.random.default_rng(100 + seed)
    n = 6
    s = rng.integers(0, 3, n).astype(float)  # many ties
    c = rng.integers(0, 2, n)
    curve = best_of_k_curve(s, c)
    for k in range(1, n + 1):
        want = _brute_bok(s, c, k)
        assert curve[k - 1] == pytest.approx(want, abs=1e-12)
        assert want == pytest.approx(_brute_bok_tie_orderings(s, c, k), abs=1e-12)


@pytest.mark.parametrize("n_correct", [0, 1, 3, 7])
def test_oracle_curve_matches_brute_force(n_correct):
    c = np.array([1] * n_correct + [0] * (7 - n_correct))
    g = oracle_best_of_k_curve(c)
    for k in range(1, 8):
        subs = list(itertools.combinations(range(7), k))
        assert g[k - 1] == pytest.approx(np.mean([c[list(sub)].max() for sub in subs]), abs=1e-12)


def test_bok_weights_large_n_log_gamma_path():
    w = _bok_weights(350)
    assert np.allclose(w.sum(axis=1), 1.0, atol=1e-9)
    small = _bok_weights(40)
    assert small[4, 10] == pytest.approx(math.comb(10, 4) / math.comb(40, 5), rel=1e-15)
    c = (np.arange(350) % 3 == 0).astype(int)
    s = np.random.default_rng(0).normal(size=350)
    curve = best_of_k_curve(s, c)
    assert curve[0] == pytest.approx(c.mean()) and curve[-1] == pytest.approx(c[np.argmax(s)])


def test_prompt_roc_auc_matches_sklearn():
    rng = np.random.default_rng(7)
    for _ in range(20):
        s = rng.integers(0, 5, 12).astype(float)
        c = rng.integers(0, 2, 12)
        if 0 < c.sum() < 12:
            assert prompt_roc_auc(s, c) == pytest.approx(roc_auc_score(c, s))
    assert math.isnan(prompt_roc_auc([1.0, 2.0], [1, 1]))


def test_correctness_metrics_against_references():
    rng = np.random.default_rng(8)
    n_prompts, k = 40, 8
    c = (rng.random((n_prompts, k)) < rng.random((n_prompts, 1))).astype(int)
    s = c * 0.7 + rng.normal(size=(n_prompts, k))
    s[:, :2] = np.round(s[:, :2], 0)  # some score ties
    res = ppe_correctness_metrics(s, c, n_resamples=200)
    json.dumps(res, allow_nan=False)
    # accuracy: brute force over every (correct, incorrect) pair within each prompt, pooled
    num = den = 0.0
    aucs = []
    for p in range(n_prompts):
        for i in range(k):
            for j in range(k):
                if c[p, i] == 1 and c[p, j] == 0:
                    den += 1
                    num += 1.0 if s[p, i] > s[p, j] else (0.5 if s[p, i] == s[p, j] else 0.0)
        if 0 < c[p].sum() < k:
            aucs.append(roc_auc_score(c[p], s[p]))
    assert res["accuracy"]["estimate"] == pytest.approx(num / den)
    assert res["roc_auc"]["estimate"] == pytest.approx(np.mean(aucs))
    assert res["n_prompts_both_classes"] == len(aucs)
    bok = np.mean([best_of_k_curve(s[p], c[p]) for p in range(n_prompts)], axis=0)
    orc = np.mean([oracle_best_of_k_curve(c[p]) for p in range(n_prompts)], axis=0)
    assert np.allclose(res["best_of_k_curve"], bok) and np.allclose(res["oracle_curve"], orc)
    assert res["end_score"]["estimate"] == pytest.approx(bok[-1])
    assert res["max_score"]["estimate"] == pytest.approx(bok.max())
    assert res["max_score_k"] == int(np.argmax(bok)) + 1
    assert res["loss"]["estimate"] == pytest.approx(np.mean((bok - orc) ** 2))
    for key in ("accuracy", "roc_auc", "end_score", "max_score", "loss"):
        assert res[key]["lo"] <= res[key]["estimate"] <= res[key]["hi"], key


def test_perfect_scorer_reaches_oracle_and_ragged_prompts():
    rng = np.random.default_rng(9)
    scores, correct = [], []
    for n in (4, 6, 9, 9):
        c = rng.integers(0, 2, n)
        correct.append(c)
        scores.append(c + 0.01 * rng.random(n))  # every correct response outranks every incorrect one
    res = ppe_correctness_metrics(scores, correct, n_resamples=50)
    assert np.allclose(res["best_of_k_curve"], res["oracle_curve"])
    assert res["loss"]["estimate"] == pytest.approx(0.0, abs=1e-20)
    assert res["n_prompts_per_k"] == [4, 4, 4, 4, 3, 3, 2, 2, 2]
    assert len(res["best_of_k_curve"]) == 9
