"""Estimators from confounded logs (ALGORITHMS.md section 5) on the semi-synthetic generator, whose truth is known:
V(a) = 0.2 a exactly and the naive OBS mean's bias is gamma * E[u | A = a] in closed form."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from rewardlab.logs.estimators import all_estimates, direct_method, ridge_fit
from rewardlab.logs.synthetic import confounding_terms, generate_arrays

SEEDS = range(200)


@pytest.fixture(scope="module")
def study():
    """Every estimator over 200 seeds (small logs): errors and CI coverage of each arm's value."""
    err: dict[str, list] = {}
    cover: dict[str, list] = {}
    for s in SEEDS:
        d, truth = generate_arrays(n_obs=2000, n_exp=300, n_sim=300, seed=s)
        fitted = all_estimates(replace(d, outcome_exp=None, outcome_sim=None), seed=s)
        oracle = all_estimates(d, seed=s)  # the generator's true outcome model mu = E[R | x, z]
        fitted["dr_true_mu"] = oracle["dr"]
        for name, e in fitted.items():
            est, half = e.intervals()
            err.setdefault(name, []).append(est - truth)
            cover.setdefault(name, []).append(np.abs(est - truth) <= half)
            c, ch = e.intervals(base=0)
            cover.setdefault(name + ":contrast", []).append((np.abs(c - (truth - truth[0])) <= ch)[1:])
    return {k: np.asarray(v) for k, v in err.items()}, {k: np.asarray(v) for k, v in cover.items()}


def test_naive_obs_mean_is_off_by_the_known_confounding_term(study):
    err, _ = study
    term = confounding_terms(3, confounding=1.0, selection=1.5)
    assert term[0] > 0.8 and term[2] < -0.8 and abs(term[1]) < 1e-12  # lenient users pick model_0
    bias = err["naive_obs"].mean(axis=0)
    se = err["naive_obs"].std(axis=0, ddof=1) / np.sqrt(len(SEEDS))
    assert np.all(np.abs(bias - term) < 4 * se + 1e-3), (bias, term)


def test_dim_and_dr_are_unbiased_and_their_cis_cover_the_truth(study):
    err, cover = study
    for name in ("dim", "dr", "dr_true_mu", "obs_corrected"):
        se = err[name].std(axis=0, ddof=1) / np.sqrt(len(SEEDS))
        assert np.all(np.abs(err[name].mean(axis=0)) < 4 * se), name
    # issue 28: 93-97% over the 200 seeds (each arm's value: 600 intervals). Over 1,000 seeds the same settings
    # give dim 0.938, dr 0.945; contrasts dim 0.939, dr 0.937 (400 intervals here, so a wider band for them)
    for name in ("dim", "dr", "dr_true_mu"):
        assert 0.93 <= cover[name].mean() <= 0.97, (name, cover[name].mean())
    for name in ("dim:contrast", "dr:contrast"):
        assert 0.90 <= cover[name].mean() <= 0.98, (name, cover[name].mean())


def test_dr_with_the_true_outcome_model_has_lower_variance_than_dim(study):
    err, _ = study
    var_dim = err["dim"].var(axis=0, ddof=1)
    var_dr = err["dr_true_mu"].var(axis=0, ddof=1)
    # expected ratio about 0.7 here: the true mu removes the quality and context variance, not the user factor's
    assert np.all(var_dr < var_dim) and var_dr.sum() < 0.85 * var_dim.sum(), (var_dr, var_dim)


def test_direct_method_matches_a_plain_least_squares_plug_in():
    """The direct estimate is mean over SIM of the EXP regression's predictions (numpy lstsq as the reference), and
    its delta-method SE agrees with a bootstrap that refits the regression."""
    d, _ = generate_arrays(n_obs=10, n_exp=400, n_sim=200, seed=3)
    est = direct_method(d.exp_x, d.exp_reward, d.sim_x, ridge=0.0)
    xd = np.column_stack([np.ones(len(d.exp_x)), d.exp_x])
    beta = np.linalg.lstsq(xd, d.exp_reward, rcond=None)[0]
    np.testing.assert_allclose(ridge_fit(d.exp_x, d.exp_reward, 0.0)[0], beta, atol=1e-9)
    ref = (np.concatenate([np.ones(d.sim_x.shape[:2] + (1,)), d.sim_x], axis=-1) @ beta).mean(axis=0)
    np.testing.assert_allclose(est.value, ref, atol=1e-9)
    rng = np.random.default_rng(0)
    boots = []
    for _ in range(300):
        i, c = rng.integers(0, 400, 400), rng.integers(0, 200, 200)
        boots.append(direct_method(d.exp_x[i], d.exp_reward[i], d.sim_x[c], ridge=0.0).value)
    np.testing.assert_allclose(est.se(), np.std(boots, axis=0), rtol=0.2)
