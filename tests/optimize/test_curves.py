"""Best-of-n, tilted-policy and Gao-fit numerics against brute force, Monte Carlo, direct sums and quadrature."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import minimize_scalar

from rewardlab.optimize import (
    bon_expected,
    bon_kl,
    bon_kl_exact,
    fit_gao,
    goodhart_curves,
    log2_n_grid,
    plot_goodhart,
    tilted_policy,
)
from rewardlab.stats.bootstrap import bootstrap_mean_ci
from rewardlab.stats.ppe import best_of_k_curve

# ------------------------------------------------------------------------------------------------ best-of-n


def brute_force_bon(scores: list[float], values: list[float], n: int) -> float:
    """Average over every n-subset of the value of its best, uniform among tied maxima."""
    total, count = 0.0, 0
    for subset in itertools.combinations(range(len(scores)), n):
        best = max(scores[i] for i in subset)
        tied = [values[i] for i in subset if scores[i] == best]
        total += sum(tied) / len(tied)
        count += 1
    return total / count


def tied_pools(seed: int, n_pools: int, m: int, levels: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, levels, size=(n_pools, m)).astype(float)  # random ties
    return scores, rng.normal(size=(n_pools, m))


@pytest.mark.parametrize(("m", "levels"), [(1, 1), (2, 1), (5, 2), (7, 3), (8, 4), (9, 100)])
def test_bon_equals_brute_force_enumeration_with_ties(m, levels):
    scores, values = tied_pools(m * 10 + levels, 4, m, levels)
    ns = list(range(1, m + 1))
    got = bon_expected(scores, values, ns)
    assert got.shape == (4, m)
    for p in range(4):
        expected = [brute_force_bon(scores[p].tolist(), values[p].tolist(), n) for n in ns]
        np.testing.assert_allclose(got[p], expected, rtol=1e-10, atol=1e-12)
    if levels < m:  # the fixture has ties
        assert any(len(set(row)) < m for row in scores.tolist())


def test_bon_agrees_with_the_ppe_best_of_k_curve_on_binary_values():
    scores, _ = tied_pools(3, 5, 12, 4)
    correct = (np.random.default_rng(4).random((5, 12)) < 0.4).astype(float)
    got = bon_expected(scores, correct, np.arange(1, 13))
    for p in range(5):
        np.testing.assert_allclose(got[p], best_of_k_curve(scores[p], correct[p]), rtol=1e-10, atol=1e-12)


def test_bon_equals_monte_carlo_on_a_large_tied_pool():
    rng = np.random.default_rng(11)
    m, trials = 1024, 4000
    scores = np.round(rng.normal(size=m), 1)  # ~60 distinct levels: heavy ties
    values = scores + rng.normal(size=m)
    ns = [1, 7, 64, 700]
    exact = bon_expected(scores[None], values[None], ns)[0]
    keys = rng.random((trials, m))
    for j, n in enumerate(ns):
        subset = np.argsort(keys, axis=1)[:, :n]  # uniform n-subsets without replacement
        s = scores[subset]
        tie_break = np.where(s == s.max(axis=1, keepdims=True), rng.random(s.shape), -1.0)
        picked = values[subset[np.arange(trials), tie_break.argmax(axis=1)]]
        se = picked.std(ddof=1) / math.sqrt(trials)
        assert abs(picked.mean() - exact[j]) < 3 * se, (n, picked.mean(), exact[j], se)


def test_bon_endpoints():
    scores, values = tied_pools(5, 6, 10, 3)
    got = bon_expected(scores, values, [1, 10])
    np.testing.assert_allclose(got[:, 0], values.mean(axis=1), rtol=1e-12)  # n = 1: a uniform draw
    top = [np.mean([v for s, v in zip(sr, vr, strict=True) if s == max(sr)]) for sr, vr in zip(scores, values,
                                                                                                  strict=True)]
    np.testing.assert_allclose(got[:, 1], top, rtol=1e-12)  # n = m: the tied maxima, uniformly


@pytest.mark.parametrize(
    ("ns", "fragment"), [([0], "1..m"), ([5], "1..m"), ([1.5], "whole numbers"), ([], "non-empty")]
)
def test_bon_rejects_bad_n(ns, fragment):
    with pytest.raises(ValueError, match="n"):
        bon_expected(np.zeros((2, 4)), np.zeros((2, 4)), ns)
    with pytest.raises(ValueError) as info:
        bon_expected(np.zeros((2, 4)), np.zeros((2, 4)), ns)
    assert fragment in str(info.value)


def test_bon_rejects_nan_scores_and_shape_mismatch():
    with pytest.raises(ValueError, match="NaN"):
        bon_expected([[np.nan, 1.0]], [[0.0, 1.0]], [1])
    with pytest.raises(ValueError, match="must match"):
        bon_expected(np.zeros((2, 3)), np.zeros((2, 4)), [1])


@pytest.mark.parametrize("n", [1, 2, 3, 10, 256])
def test_bon_kl_equals_the_kl_of_the_max_of_n_uniforms(n):
    # the best of n has density n u^(n-1) on the base policy's quantile scale u
    def integrand(u: float) -> float:  # density * log density, written so that u^(n-1) may underflow to 0
        return n * u ** (n - 1) * (math.log(n) + (n - 1) * math.log(u)) if u > 0 else 0.0

    direct, _ = quad(integrand, 0, 1, limit=200, epsabs=1e-12)
    assert bon_kl(n) == pytest.approx(direct, abs=1e-8)
    np.testing.assert_allclose(bon_kl(np.array([n, n])), [direct, direct], atol=1e-8)
    with pytest.raises(ValueError):
        bon_kl(0)


def test_log2_n_grid():
    assert log2_n_grid(1).tolist() == [1]
    assert log2_n_grid(8).tolist() == [1, 2, 4, 8]
    assert log2_n_grid(1000).tolist() == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000]


# ------------------------------------------------------------------------- exact best-of-n KL on a finite pool


def brute_force_bon_kl(scores: list[float], n: int) -> float:
    """KL(pick || uniform) by enumerating every n-subset (drawn without replacement, as bon_expected does) and
    splitting each subset's pick uniformly among its tied maxima."""
    m = len(scores)
    subsets = list(itertools.combinations(range(m), n))
    pick = np.zeros(m)
    for subset in subsets:
        best = max(scores[i] for i in subset)
        tied = [i for i in subset if scores[i] == best]
        for i in tied:
            pick[i] += 1.0 / (len(tied) * len(subsets))
    assert pick.sum() == pytest.approx(1.0)
    return float(sum(p * math.log(p * m) for p in pick if p > 0))


@pytest.mark.parametrize(("m", "levels"), [(1, 1), (3, 1), (5, 2), (7, 3), (8, 4), (9, 100)])
def test_bon_kl_exact_equals_enumeration_with_ties(m, levels):
    scores, _ = tied_pools(m * 7 + levels, 4, m, levels)
    ns = list(range(1, m + 1))
    got = bon_kl_exact(scores, ns)
    for p in range(4):
        expected = [brute_force_bon_kl(scores[p].tolist(), n) for n in ns]
        np.testing.assert_allclose(got[p], expected, rtol=1e-10, atol=1e-12)
    if levels < m:  # the fixture has ties, and they change the KL
        assert any(len(set(row)) < m for row in scores.tolist())
        no_ties = bon_kl_exact(np.arange(m, dtype=float)[None, :], ns)[0]
        assert np.abs(got - no_ties).max() > 1e-3


def test_bon_kl_exact_limits():
    m = 1024
    ranks = np.random.default_rng(5).permutation(m).astype(float)[None, :]
    kl = bon_kl_exact(ranks, [1, m])[0]
    assert kl[0] == 0.0 and kl[1] == pytest.approx(math.log(m), rel=1e-12)  # 6.93, the pick is the top one
    assert bon_kl(m) == pytest.approx(5.9324, abs=1e-4)  # the large-pool formula is a full nat lower there
    # c candidates tied at the top: at n = m the pick is uniform over them, KL = log(m / c)
    top_tied = np.concatenate([np.arange(m - 3.0), [1e9, 1e9, 1e9]])[None, :]
    assert bon_kl_exact(top_tied, [m])[0, 0] == pytest.approx(math.log(m / 3), rel=1e-12)
    # every candidate tied: every n picks one uniformly, the base itself
    np.testing.assert_allclose(bon_kl_exact(np.zeros((1, 16)), range(1, 17)), 0.0, atol=1e-12)
    # as m grows with n fixed, the exact KL tends to the continuous formula, at rate 1 / m
    ns = [2, 8, 32]
    gap = {mm: bon_kl_exact(np.arange(mm, dtype=float)[None, :], ns)[0] - bon_kl(np.array(ns, float))
           for mm in (10_000, 100_000)}
    assert np.all(gap[100_000] > 0) and np.all(gap[100_000] < 2e-4)
    np.testing.assert_allclose(gap[10_000] / gap[100_000], 10.0, rtol=0.05)


def test_curves_share_one_kl_definition_at_the_top():
    # n = m best-of-n and the beta = 0 tilted policy both pick the proxy's argmax (uniform among ties), so with a
    # uniform pi_0 their exact on-pool KLs must agree: log m, or log(m / c) where c candidates tie at the top
    rng = np.random.default_rng(11)
    m = 64
    proxy = rng.normal(size=(30, m))
    proxy[:10, :3] = proxy[:10].max(axis=1, keepdims=True) + 1.0  # 3-way tie at the top of 10 prompts
    gold = rng.normal(size=proxy.shape)
    res = goodhart_curves(proxy, gold, ["mean"], ns=[1, 8, m], betas=[0.0], n_resamples=0)
    c = res["curves"]["mean"]
    top = (20 * math.log(m) + 10 * math.log(m / 3)) / 30
    assert c["bon"]["kl"][-1] == pytest.approx(top, rel=1e-12)
    assert c["tilted"]["kl"]["estimate"][0] == pytest.approx(top, rel=1e-12)
    assert c["bon"]["kl"] == pytest.approx(bon_kl_exact(proxy, [1, 8, m]).mean(axis=0).tolist(), rel=1e-12)
    assert c["bon"]["kl_analytic"] == pytest.approx(bon_kl(np.array([1.0, 8.0, m])).tolist(), rel=1e-12)
    assert c["bon"]["sqrt_kl"] == pytest.approx(np.sqrt(c["bon"]["kl"]).tolist(), rel=1e-12)


# ------------------------------------------------------------------------------------------- tilted policy


def direct_tilted(proxy, gold, beta, pi0):
    """Naive pi_beta from its definition (inputs small enough not to overflow)."""
    w = pi0 * np.exp(proxy / beta)
    pi = w / w.sum()
    on = pi > 0
    kl = float(np.sum(pi[on] * np.log(pi[on] / pi0[on])))
    return kl, float(pi @ gold), float(pi @ proxy)


def test_tilted_policy_equals_direct_computation():
    rng = np.random.default_rng(21)
    proxy, gold = rng.normal(size=(6, 9)), rng.normal(size=(6, 9))
    raw = rng.uniform(0.1, 3.0, size=(6, 9))
    raw[0, 3] = 0.0  # a candidate outside pi_0's support
    with np.errstate(divide="ignore"):
        log_pi0 = np.log(raw) + 5.0  # unnormalised on purpose
    betas = [0.2, 1.0, 7.0]
    for lp in (None, log_pi0):
        kl, g, p = tilted_policy(proxy, gold, betas, lp)
        for i in range(6):
            pi0 = np.full(9, 1 / 9) if lp is None else raw[i] / raw[i].sum()
            for j, beta in enumerate(betas):
                ekl, eg, ep = direct_tilted(proxy[i], gold[i], beta, pi0)
                assert kl[i, j] == pytest.approx(ekl, rel=1e-10, abs=1e-14)
                assert g[i, j] == pytest.approx(eg, rel=1e-10, abs=1e-14)
                assert p[i, j] == pytest.approx(ep, rel=1e-10, abs=1e-14)


def test_tilted_policy_limits():
    rng = np.random.default_rng(22)
    proxy = rng.normal(size=(5, 8)) * 1e6  # huge rewards: exp(proxy / beta) overflows without the shift
    gold = rng.normal(size=(5, 8))
    raw = rng.uniform(0.5, 2.0, size=(5, 8))
    pi0 = raw / raw.sum(axis=1, keepdims=True)
    best = proxy.argmax(axis=1)
    kl, g, _ = tilted_policy(proxy, gold, [0.0, 1e-300, 1e-3, 1e30, np.inf], np.log(raw))
    assert np.all(np.isfinite(kl)) and np.all(np.isfinite(g))
    for j in range(3):  # beta -> 0: the argmax, KL = -log pi_0(argmax)
        np.testing.assert_allclose(g[:, j], gold[np.arange(5), best], rtol=1e-12)
        np.testing.assert_allclose(kl[:, j], -np.log(pi0[np.arange(5), best]), rtol=1e-9)
    for j in (3, 4):  # beta -> inf: pi_0 itself
        np.testing.assert_allclose(g[:, j], (pi0 * gold).sum(axis=1), rtol=1e-9)
        assert np.all(kl[:, j] < 1e-12)


def test_tilted_policy_beta_zero_splits_tied_maxima_by_pi0():
    proxy = np.array([[1.0, 3.0, 3.0, 2.0]])
    gold = np.array([[0.0, 10.0, 20.0, 0.0]])
    log_pi0 = np.log([[0.1, 0.2, 0.6, 0.1]])
    kl, g, p = tilted_policy(proxy, gold, [0.0], log_pi0)
    assert g[0, 0] == pytest.approx((0.2 * 10 + 0.6 * 20) / 0.8)
    assert kl[0, 0] == pytest.approx(-math.log(0.8))
    assert p[0, 0] == pytest.approx(3.0)


def test_tilted_policy_rejects_bad_input():
    with pytest.raises(ValueError, match="betas"):
        tilted_policy(np.zeros((1, 2)), np.zeros((1, 2)), [-1.0])
    with pytest.raises(ValueError, match="at least one candidate with pi_0 > 0"):
        tilted_policy(np.zeros((1, 2)), np.zeros((1, 2)), [1.0], np.full((1, 2), -np.inf))


# --------------------------------------------------------------------------------------------- Gao fits


def gao(d, a, b, form):
    return d * (a - b * d) if form == "bon" else d * (a - b * np.log(d))


@pytest.mark.parametrize(("form", "a", "b"), [("bon", 1.3, 0.4), ("rl", 0.9, 0.35)])
def test_fit_gao_exact_curve_lstsq_and_peak(form, a, b):
    d = np.linspace(0.1, 3.0, 15)
    y = gao(d, a, b, form) + np.random.default_rng(0).normal(scale=0.05, size=d.size)
    fit = fit_gao(d, y, form)
    x2 = d * d if form == "bon" else d * np.log(d)
    (ra, rb), *_ = np.linalg.lstsq(np.column_stack([d, -x2]), y, rcond=None)
    assert fit["a"] == pytest.approx(ra, rel=1e-9) and fit["b"] == pytest.approx(rb, rel=1e-9)
    resid = y - gao(d, ra, rb, form)
    assert fit["r2"] == pytest.approx(1 - (resid**2).sum() / ((y - y.mean()) ** 2).sum(), rel=1e-9)
    # the peak is the numerical maximum of the fitted curve
    opt = minimize_scalar(lambda x: -gao(x, ra, rb, form), bounds=(1e-6, 50), method="bounded",
                          options={"xatol": 1e-10})
    assert fit["d_star"] == pytest.approx(opt.x, rel=1e-6)
    assert fit["gold_at_peak"] == pytest.approx(-opt.fun, rel=1e-9)
    assert fit["kl_star"] == pytest.approx(opt.x**2, rel=1e-6)
    assert fit["peak"] == "interior" and fit["peak_in_range"] is bool(opt.x <= d.max())
    exact = fit_gao(d, gao(d, a, b, form), form)
    assert exact["a"] == pytest.approx(a, rel=1e-10) and exact["b"] == pytest.approx(b, rel=1e-10)


def test_fit_gao_without_a_peak_says_so():
    d = np.linspace(0.1, 2.0, 10)
    for form in ("bon", "rl"):
        fit = fit_gao(d, 0.5 * d + 0.1 * d * d, form)
        assert fit["b"] < 0 and fit["peak"] == "none" and "no maximum" in fit["note"]
        assert fit["d_star"] is None and fit["gold_at_peak"] is None and fit["peak_in_range"] is False
    at_zero = fit_gao(d, -0.2 * d - 0.3 * d * d, "bon")
    assert at_zero["peak"] == "at_zero" and at_zero["d_star"] == 0.0 and at_zero["gold_at_peak"] == 0.0
    with pytest.raises(ValueError, match="two distinct positive"):
        fit_gao([0.0, 1.0], [0.0, 1.0], "bon")
    with pytest.raises(ValueError, match="form"):
        fit_gao(d, d, "ppo")


@pytest.mark.parametrize(("form", "a", "b"), [("bon", 1.0, 0.3), ("rl", 0.8, 0.3)])
def test_fit_gao_recovers_a_b_inside_bootstrap_cis(form, a, b):
    d = np.linspace(0.15, 2.5, 12)
    covered = {"a": 0, "b": 0, "d_star": 0}
    n_seeds = 40
    d_true = a / (2 * b) if form == "bon" else math.exp(a / b - 1)
    for seed in range(n_seeds):
        rng = np.random.default_rng(100 + seed)
        # per-prompt curves: prompt-level random slopes plus point noise, mean curve exactly Gao's form
        per_prompt = gao(d, a, b, form) * (1 + 0.3 * rng.normal(size=(300, 1))) + rng.normal(size=(300, d.size))
        fit = fit_gao(d, per_prompt, form, n_resamples=200, seed=seed)
        for k in ("a", "b"):
            assert fit["ci"][k]["lo"] <= fit[k] <= fit["ci"][k]["hi"]
            assert fit["ci"][k]["hi"] - fit["ci"][k]["lo"] < 0.5 * {"a": a, "b": b}[k]  # informative CIs
        truth = {"a": a, "b": b, "d_star": d_true}
        for k in covered:
            covered[k] += fit["ci"][k]["lo"] <= truth[k] <= fit["ci"][k]["hi"]
    for k, c in covered.items():
        assert c >= 0.8 * n_seeds, (k, c)  # nominal 95%; 80% leaves room for 40-seed noise


# ------------------------------------------------------------------------------------------ Goodhart curves


def ensemble_pools(seed: int, n_prompts: int = 30, m: int = 24, k: int = 4):
    rng = np.random.default_rng(seed)
    gold = rng.normal(size=(n_prompts, m))
    members = np.round(gold[..., None] + rng.standard_t(3, size=(n_prompts, m, 1)) + 0.5 * rng.normal(
        size=(n_prompts, m, k)), 1)  # rounding: ties in every rule's score
    return members.mean(axis=-1), gold, members


RULES_ENS = ["mean", "lcb:1", "quantile:0.2", "min", "uwo:0.5"]


def leaves(x, path=""):
    """Flatten a JSON-ready dict into {path: value}."""
    if isinstance(x, dict):
        out = {}
        for k, v in x.items():
            out.update(leaves(v, f"{path}/{k}"))
        return out
    if isinstance(x, list):
        out = {}
        for i, v in enumerate(x):
            out.update(leaves(v, f"{path}[{i}]"))
        return out
    return {path: x}


def assert_same_result(r1, r2):
    l1, l2 = leaves(r1), leaves(r2)
    assert l1.keys() == l2.keys()
    for k in l1:
        if isinstance(l1[k], float) and isinstance(l2[k], float):
            assert l1[k] == pytest.approx(l2[k], rel=1e-9, abs=1e-12), k
        else:
            assert l1[k] == l2[k], k


def test_curves_do_not_depend_on_candidate_or_member_order():
    """Regression for the Coste et al. bug: each candidate is ranked by its own pessimistic score and credited
    with its own gold, so shuffling candidates (with their rewards) or ensemble members changes nothing."""
    mean, gold, members = ensemble_pools(31)
    rng = np.random.default_rng(32)
    kw = {"ns": [1, 2, 3, 8, 24], "betas": [0.05, 0.3, 2.0], "n_resamples": 50, "seed": 3}
    base = goodhart_curves(mean, gold, RULES_ENS, members=members, **kw)
    perm = np.argsort(rng.random(mean.shape), axis=1)  # a different candidate order per prompt
    take = lambda x: np.take_along_axis(x, perm, axis=1)  # noqa: E731
    shuffled_members = np.take_along_axis(members, perm[..., None], axis=1)
    shuffled_members = np.take_along_axis(shuffled_members, np.argsort(rng.random(members.shape), axis=-1), -1)
    other = goodhart_curves(take(mean), take(gold), RULES_ENS, members=shuffled_members, **kw)
    assert_same_result(base, other)


def test_curves_credit_each_pick_with_its_own_gold():
    mean, gold, members = ensemble_pools(33)
    res = goodhart_curves(mean, gold, RULES_ENS, members=members, ns=[1, 24], betas=[0.0, np.inf], n_resamples=0)
    own = {  # each rule's score, from the formulas
        "mean": members.mean(-1),
        "lcb:1": members.mean(-1) - members.std(-1),
        "quantile:0.2": members.mean(-1) - 0.8416212335729143 * members.std(-1),
        "min": members.min(-1),
        "uwo:0.5": members.mean(-1) - 0.5 * members.var(-1),
    }
    for rule, score in own.items():
        top = score == score.max(axis=1, keepdims=True)
        gold_of_pick = ((gold * top).sum(1) / top.sum(1)).mean()  # n = m and beta = 0: the top candidates
        c = res["curves"][rule]
        assert c["bon"]["gold"]["estimate"][1] == pytest.approx(gold_of_pick, rel=1e-12)
        assert c["tilted"]["gold"]["estimate"][0] == pytest.approx(gold_of_pick, rel=1e-12)
        assert c["bon"]["proxy"]["estimate"][1] == pytest.approx(score.max(axis=1).mean(), rel=1e-12)
        assert c["bon"]["gold"]["estimate"][0] == pytest.approx(gold.mean(), rel=1e-12)
        assert c["tilted"]["gold"]["estimate"][1] == pytest.approx(gold.mean(), rel=1e-12)
    # the rules pick differently on this data, so the check above is not vacuous
    assert len({res["curves"][r]["bon"]["gold"]["estimate"][1] for r in own}) >= 4


def test_goodhart_curves_bootstrap_and_perfect_proxy():
    rng = np.random.default_rng(41)
    gold = rng.normal(size=(60, 32))
    res = goodhart_curves(gold, gold, ["mean"], n_resamples=300, seed=5)
    c = res["curves"]["mean"]
    # a perfect proxy: its curve is the gold curve, which increases with n and with 1 / beta
    assert c["bon"]["gold"]["estimate"] == pytest.approx(c["bon"]["proxy"]["estimate"], rel=1e-12)
    assert np.all(np.diff(c["bon"]["gold"]["estimate"]) > 0)
    assert np.all(np.diff(c["tilted"]["gold"]["estimate"]) < 0) and np.all(np.diff(c["tilted"]["kl"]["estimate"]) < 0)
    # best-of-n's x-axis is the exact on-pool KL; the large-pool formula is kept beside it
    assert c["bon"]["kl"] == pytest.approx(bon_kl_exact(gold[:1], c["bon"]["n"])[0].tolist(), rel=1e-12)
    assert c["bon"]["kl_analytic"] == pytest.approx(bon_kl(np.array(c["bon"]["n"], dtype=float)).tolist())
    # the prompt bootstrap is the shared stats helper's (same seed, same resamples)
    est, lo, hi = bootstrap_mean_ci(gold.mean(axis=1), n_resamples=300, seed=5)
    assert res["baseline_gold"]["uniform"] == pytest.approx({"estimate": est, "lo": lo, "hi": hi}, rel=1e-12)
    n1_curve = bon_expected(gold, gold, [1, 32])
    est2, lo2, hi2 = bootstrap_mean_ci(n1_curve[:, 1], n_resamples=300, seed=5)
    assert (c["bon"]["gold"]["lo"][-1], c["bon"]["gold"]["hi"][-1]) == pytest.approx((lo2, hi2), rel=1e-12)
    for fit in (c["bon"]["fit"], c["tilted"]["fit"]):
        assert fit["ci"]["a"]["lo"] <= fit["a"] <= fit["ci"]["a"]["hi"]


def test_goodhart_curves_validation():
    mean, gold, members = ensemble_pools(50, 4, 6, 3)
    with pytest.raises(ValueError, match="needs members"):
        goodhart_curves(mean, gold, ["min"])
    with pytest.raises(ValueError, match="must match"):
        goodhart_curves(mean, gold[:, :5], ["mean"])
    with pytest.raises(ValueError, match="unknown rule"):
        goodhart_curves(mean, gold, ["best"], members=members)


def test_plot_goodhart_writes_pngs(tmp_path):
    mean, gold, members = ensemble_pools(60, 20, 16, 3)
    res = goodhart_curves(mean, gold, ["mean", "min"], members=members, n_resamples=20)
    paths = plot_goodhart(res, tmp_path, prefix="g")
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["g_bon.png", "g_tilted.png"]
    for p in paths:
        with open(p, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_goodhart_curves_rejects_non_finite_proxy(bad):
    mean, gold, members = ensemble_pools(51, 4, 6, 3)
    mean[2, 4] = bad
    with pytest.raises(ValueError, match=r"proxy must be finite: 1 non-finite value\(s\), the first .* at prompt 2, "
                                         r"candidate 4"):
        goodhart_curves(mean, gold, ["mean"], n_resamples=0)
    std = np.ones_like(gold)
    std[1, 0] = np.inf  # a finite mean but an infinite std: lcb's score is -inf
    with pytest.raises(ValueError, match="rule 'lcb:1' gives non-finite scores"):
        goodhart_curves(gold, gold, ["lcb:1"], std=std, n_resamples=0)


def test_goodhart_curves_without_resamples_and_bad_grids():
    mean, gold, members = ensemble_pools(52, 8, 6, 3)
    res = goodhart_curves(mean, gold, ["mean", "min"], members=members, ns=[1, 3, 6], n_resamples=0)
    c = res["curves"]["min"]
    assert c["bon"]["n"] == [1, 3, 6]
    assert all(v is None for q in ("gold", "proxy", "kl_ci") for k in ("lo", "hi") for v in c["bon"][q][k])
    assert all(v is None for k in ("lo", "hi") for v in c["tilted"]["gold"][k])
    assert "ci" not in c["bon"]["fit"] and res["baseline_gold"]["uniform"]["lo"] is None
    with pytest.raises(ValueError, match="strictly increasing"):
        goodhart_curves(mean, gold, ["mean"], ns=[1, 4, 2], n_resamples=0)
    with pytest.raises(ValueError, match="strictly increasing"):
        goodhart_curves(mean, gold, ["mean"], ns=[1, 2, 2], n_resamples=0)
    with pytest.raises(ValueError, match="n_resamples must be an integer >= 0"):
        goodhart_curves(mean, gold, ["mean"], n_resamples=-1)
