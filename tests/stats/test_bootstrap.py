"""Bootstrap CIs and paired tests: coverage, equivalences, cluster resampling, p-value calibration."""

import itertools

import numpy as np
import pytest
from scipy import stats

from rewardlab.stats.bootstrap import (
    bootstrap_ci,
    bootstrap_mean_ci,
    bootstrap_mean_cis,
    paired_bootstrap,
    percentile_interval,
    resample_indices,
)


def test_coverage_of_mean_ci_bernoulli():
    p_true, hits = 0.7, 0
    master = np.random.default_rng(123)
    for draw in range(200):
        x = (master.random(200) < p_true).astype(float)
        _, lo, hi = bootstrap_mean_ci(x, n_resamples=1000, seed=draw)
        hits += lo <= p_true <= hi
    assert 0.91 <= hits / 200 <= 0.98


def test_coverage_generic_path_median():
    # generic stat_fn path: median of N(0,1) samples, true median 0
    master = np.random.default_rng(7)
    hits = 0
    for draw in range(100):
        x = master.normal(size=101)
        _, lo, hi = bootstrap_ci(np.median, x, n_resamples=400, seed=draw)
        hits += lo <= 0.0 <= hi
    assert 0.88 <= hits / 100 <= 0.995


def test_vectorised_mean_equals_generic():
    rng = np.random.default_rng(0)
    x = rng.normal(size=137)
    est1, lo1, hi1 = bootstrap_ci(np.mean, x, n_resamples=300, seed=5)
    est2, lo2, hi2 = bootstrap_mean_ci(x, n_resamples=300, seed=5)
    assert np.allclose([est1, lo1, hi1], [est2, lo2, hi2], rtol=0, atol=1e-12)
    groups = rng.integers(0, 20, size=137)
    c1 = bootstrap_ci(np.mean, x, n_resamples=300, seed=5, cluster=groups)
    c2 = bootstrap_mean_ci(x, n_resamples=300, seed=5, cluster=groups)
    assert np.allclose(c1, c2, rtol=0, atol=1e-12)


def test_singleton_clusters_equal_item_bootstrap():
    x = np.random.default_rng(1).normal(size=50)
    a = bootstrap_mean_ci(x, n_resamples=200, seed=3)
    b = bootstrap_mean_ci(x, n_resamples=200, seed=3, cluster=np.arange(50))
    assert np.allclose(a, b, atol=1e-12)


def test_cluster_resamples_whole_clusters_and_widen_ci():
    rng = np.random.default_rng(2)
    groups = np.repeat(np.arange(20), 30)
    x = rng.normal(size=20)[groups] * 2.0 + rng.normal(size=600) * 0.1  # strong prompt effect
    for idx in itertools.islice(resample_indices(600, 50, seed=0, cluster=groups), 50):
        drawn = groups[idx]
        counts = np.bincount(drawn, minlength=20)
        assert np.all(counts % 30 == 0)  # every drawn cluster enters complete
        assert counts.sum() == 600
    _, lo_i, hi_i = bootstrap_mean_ci(x, seed=0)
    _, lo_c, hi_c = bootstrap_mean_ci(x, seed=0, cluster=groups)
    assert (hi_c - lo_c) > 3 * (hi_i - lo_i)


def test_percentile_interval_drops_nonfinite():
    lo, hi = percentile_interval([np.nan, 1.0, 2.0, 3.0, np.inf], confidence=0.5)
    assert (lo, hi) == pytest.approx((1.5, 2.5))
    assert all(np.isnan(percentile_interval([np.nan])))


def test_paired_pvalue_matches_exact_enumeration():
    rng = np.random.default_rng(4)
    a = rng.normal(0.5, 1.0, size=10)
    b = rng.normal(0.0, 1.0, size=10)
    d = a - b
    obs = abs(d.mean())
    flips = np.array(list(itertools.product([1.0, -1.0], repeat=10)))
    exact = np.mean(np.abs((flips * d).mean(axis=1)) >= obs - 1e-12)
    res = paired_bootstrap(a, b, n_resamples=200, n_permutations=20000, seed=1)
    assert res["p_value"] == pytest.approx(exact, abs=0.01)
    assert res["difference"]["estimate"] == pytest.approx(d.mean())


def test_paired_generic_stat_equals_mean_path():
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=40), rng.normal(size=40)
    r1 = paired_bootstrap(a, b, n_resamples=200, n_permutations=4000, seed=2)
    r2 = paired_bootstrap(a, b, stat_fn=np.mean, n_resamples=200, n_permutations=4000, seed=2)
    # same bootstrap resamples -> same CI; the two permutation samplers differ only by Monte Carlo error
    assert r1["difference"]["lo"] == pytest.approx(r2["difference"]["lo"])
    assert r1["difference"]["hi"] == pytest.approx(r2["difference"]["hi"])
    assert 0.05 < r1["p_value"] < 0.95
    assert r1["p_value"] == pytest.approx(r2["p_value"], abs=0.05)


def test_mean_cis_batch_equals_single_columns():
    rng = np.random.default_rng(6)
    cols = rng.normal(size=(80, 3))
    groups = rng.integers(0, 10, 80)
    for cl in (None, groups):
        batch = bootstrap_mean_cis(cols, n_resamples=100, seed=4, cluster=cl)
        for j in range(3):
            assert np.allclose(batch[j], bootstrap_mean_ci(cols[:, j], n_resamples=100, seed=4, cluster=cl))


def test_paired_clearly_better_small_p():
    rng = np.random.default_rng(6)
    truth = rng.random(300)
    a = (truth < 0.85).astype(float)
    b = (rng.random(300) < 0.6).astype(float)
    res = paired_bootstrap(a, b, n_permutations=2000)
    assert res["p_value"] < 0.002
    assert res["difference"]["lo"] > 0


def test_paired_pvalues_uniform_under_null():
    rng = np.random.default_rng(8)
    ps = []
    for rep in range(200):
        shared = rng.normal(size=100)
        a = shared + rng.normal(size=100)
        b = shared + rng.normal(size=100)
        ps.append(paired_bootstrap(a, b, n_resamples=50, n_permutations=1000, seed=rep)["p_value"])
    ps = np.array(ps)
    assert stats.kstest(ps, "uniform").pvalue > 0.001
    assert 0.35 <= ps.mean() <= 0.65
    assert np.mean(ps < 0.05) <= 0.11


def test_paired_cluster_runs_and_is_json_ready():
    rng = np.random.default_rng(9)
    a, b = rng.random(60), rng.random(60)
    res = paired_bootstrap(a, b, cluster=np.repeat(np.arange(12), 5), n_resamples=100, n_permutations=200)
    assert res["clustered"] is True and 0 < res["p_value"] <= 1
    assert all(type(v) in (float, int, str, bool, dict) for v in res.values())


def _exact_sign_flip_p(a, b, cluster, stat_fn):
    """Exact two-sided p of the paired cluster swap test: every one of the 2^C swap patterns enumerated."""
    codes = np.unique(cluster, return_inverse=True)[1]
    observed = abs(stat_fn(a) - stat_fn(b))
    n_extreme = n_total = 0
    for pattern in itertools.product([False, True], repeat=int(codes.max()) + 1):
        f = np.array(pattern)[codes]
        t = stat_fn(np.where(f, b, a)) - stat_fn(np.where(f, a, b))
        n_extreme += abs(t) >= observed - 1e-12
        n_total += 1
    return n_extreme / n_total


@pytest.mark.parametrize("stat_fn", [None, np.median])
def test_paired_cluster_p_value_matches_exact_enumeration(stat_fn):
    """8 clusters of unequal size (256 swap patterns): the Monte-Carlo p-value equals the exact one within 4 of
    its standard errors; flipping items instead of whole clusters would give a clearly different p."""
    rng = np.random.default_rng(4)
    cluster = np.repeat(np.arange(8), [2, 5, 3, 4, 6, 2, 3, 5])
    shift = rng.normal(0.35, 0.5, 8)[cluster]  # a per-cluster effect: items of one cluster move together
    a = rng.normal(size=cluster.size) * 0.2 + shift
    b = rng.normal(size=cluster.size) * 0.2
    n_perm = 20000 if stat_fn is None else 3000
    res = paired_bootstrap(a, b, stat_fn, cluster=cluster, n_resamples=50, n_permutations=n_perm, seed=1)
    exact = _exact_sign_flip_p(a, b, cluster, stat_fn or np.mean)
    se = np.sqrt(exact * (1 - exact) / n_perm)
    assert 0.02 < exact < 0.5  # a p-value in the range where the check can see errors
    assert abs(res["p_value"] - exact) < 4 * se + 1 / n_perm, (res["p_value"], exact, se)
    # the item-level (unclustered) exact p is different: the test above can tell clusters from items
    item_p = paired_bootstrap(a, b, stat_fn, n_resamples=50, n_permutations=n_perm, seed=1)["p_value"]
    assert abs(item_p - exact) > 8 * se, (item_p, exact)
