"""Selection rules: parsing, scores against hand formulas and RewardOutput.pessimistic, best-candidate ties."""

from __future__ import annotations

import doctest
import importlib
import statistics

import numpy as np
import pytest
from scipy.stats import norm

from rewardlab.optimize import RULE_FORMS, Rule, parse_rule, pessimistic_scores, select_best
from rewardlab.scoring.output import RewardOutput


@pytest.mark.parametrize(
    ("text", "kind", "param"),
    [
        ("mean", "mean", None),
        ("min", "min", None),
        ("lcb:1", "lcb", 1.0),
        ("lcb:0", "lcb", 0.0),
        ("lcb:2.5", "lcb", 2.5),
        ("quantile:0.1", "quantile", 0.1),
        ("quantile:.9", "quantile", 0.9),
        ("uwo:0.5", "uwo", 0.5),
        ("uwo:1e-3", "uwo", 1e-3),
        ("  LCB:3 ", "lcb", 3.0),
        # the RewardOutput.pessimistic spellings
        ("lcb", "lcb", 1.0),
        ("lcb2", "lcb", 2.0),
        ("q0.25", "quantile", 0.25),
        ("uwo", "uwo", 1.0),
        ("uwo0.5", "uwo", 0.5),
    ],
)
def test_parse_rule_accepts_the_documented_forms(text, kind, param):
    rule = parse_rule(text)
    assert (rule.kind, rule.param) == (kind, param)
    assert parse_rule(rule.name) == rule  # the canonical name round-trips
    assert parse_rule(rule) is rule


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("median", "unknown rule 'median'"),
        ("", "unknown rule ''"),
        ("lcb:", "unknown rule 'lcb:'"),
        ("lcb:x", "unknown rule 'lcb:x'"),
        ("mean:1", "unknown rule 'mean:1'"),
        ("min:2", "unknown rule 'min:2'"),
        ("quantile", "unknown rule 'quantile'"),
        ("lcb:-1", "k must be >= 0"),
        ("uwo:-0.1", "lam must be >= 0"),
        ("quantile:0", "q must be in (0, 1)"),
        ("quantile:1", "q must be in (0, 1)"),
        ("quantile:1.5", "q must be in (0, 1)"),
        ("q1", "q must be in (0, 1)"),
        ("lcb:1e999", "must be finite"),
        (3, "expected a string"),
    ],
)
def test_parse_rule_errors_name_the_rule_and_the_forms(text, fragment):
    with pytest.raises(ValueError) as info:
        parse_rule(text)
    msg = str(info.value)
    assert fragment in msg
    assert RULE_FORMS in msg and "lcb:k" in msg and "quantile:q" in msg and "uwo:lam" in msg


def _reference(rule: str, mean, std, members):
    """Scores from the textbook formulas, one item at a time with the statistics module and scipy.stats.norm."""
    out = np.empty(mean.shape)
    for idx in np.ndindex(mean.shape):
        mu, mem = float(mean[idx]), [float(x) for x in members[idx]]
        s = float(std[idx]) if std is not None else statistics.pstdev(mem)
        kind, _, text = rule.partition(":")
        p = float(text) if text else None
        if kind == "mean":
            out[idx] = mu
        elif kind == "lcb":
            out[idx] = mu - p * s
        elif kind == "quantile":
            out[idx] = mu + norm.ppf(p) * s
        elif kind == "min":
            out[idx] = min(mem)
        else:
            out[idx] = mu - p * statistics.pvariance(mem)
    return out


RULES = ["mean", "lcb:1.5", "quantile:0.1", "quantile:0.8", "min", "uwo:0.7"]


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4)])
def test_scores_match_the_formulas_from_members(rule, shape):
    rng = np.random.default_rng(len(shape))
    members = rng.normal(size=(*shape, 5)) * rng.uniform(0.1, 2.0, size=(*shape, 1))
    mean = members.mean(axis=-1)
    got = pessimistic_scores(rule, mean, members=members)
    assert got.shape == shape
    np.testing.assert_allclose(got, _reference(rule, mean, None, members), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("rule", ["lcb:2", "quantile:0.3"])
def test_lcb_and_quantile_use_the_given_std_over_members(rule):
    rng = np.random.default_rng(5)
    members = rng.normal(size=(4, 6, 3))
    mean = members.mean(axis=-1)
    std = rng.uniform(0.0, 3.0, size=(4, 6))  # deliberately not the members' spread
    got = pessimistic_scores(rule, mean, std=std, members=members)
    np.testing.assert_allclose(got, _reference(rule, mean, std, members), rtol=1e-12)
    np.testing.assert_allclose(pessimistic_scores(rule, mean, std=std), got, rtol=0)


def test_uwo_uses_the_population_variance_of_members_not_std():
    # Gaussian-member ensembles report std^2 = member spread + mean member variance; uwo is the spread only.
    rng = np.random.default_rng(6)
    members = rng.normal(size=(10, 4))
    mean = members.mean(axis=-1)
    std = np.sqrt(members.var(axis=-1) + 0.5)
    got = pessimistic_scores("uwo:2", mean, std=std, members=members)
    expected = [m - 2 * statistics.pvariance(list(row)) for m, row in zip(mean, members, strict=True)]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # RewardOutput.pessimistic is the same function (uncertainty_weighted, mean - lam std^2, is a different aggregate)
    ro = RewardOutput(mean, std, members).pessimistic("uwo2")
    np.testing.assert_allclose(ro, got, rtol=0)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [("mean", "mean"), ("lcb:1", "lcb1"), ("lcb:1", "lcb"), ("lcb:2.5", "lcb2.5"), ("quantile:0.1", "q0.1"),
     ("quantile:0.75", "q0.75"), ("min", "min"), ("uwo:0.5", "uwo0.5"), ("uwo:1", "uwo")],
)
def test_agrees_with_reward_output_pessimistic(ours, theirs):
    # a plain ensemble as ModelScorer returns it: std = population std of the members (RewardModel.split)
    rng = np.random.default_rng(7)
    members = rng.normal(size=(50, 4)) * 2
    mean, std = members.mean(axis=1), members.std(axis=1)
    out = RewardOutput(mean, std, members)
    expected = out.pessimistic(theirs)
    np.testing.assert_allclose(pessimistic_scores(ours, mean, std=std, members=members), expected, rtol=1e-13)
    np.testing.assert_allclose(pessimistic_scores(theirs, mean, std=std, members=members), expected, rtol=1e-13)
    if ours not in ("min", "mean") and not ours.startswith("uwo"):  # std alone suffices for lcb / quantile
        np.testing.assert_allclose(pessimistic_scores(ours, mean, std=std), expected, rtol=1e-13)


@pytest.mark.parametrize(
    ("rule", "kwargs", "fragment"),
    [
        ("min", {}, "rule 'min' needs members"),
        ("uwo:1", {"std": np.ones(3)}, "rule 'uwo:1' needs members"),
        ("lcb:1", {}, "rule 'lcb:1' needs std or members"),
        ("quantile:0.1", {}, "rule 'quantile:0.1' needs std or members"),
        ("lcb:1", {"std": np.ones(4)}, "std has shape (4,)"),
        ("lcb:1", {"std": -np.ones(3)}, "std must be >= 0"),
        ("min", {"members": np.ones((3,))}, "members must have shape"),
        ("min", {"members": np.ones((4, 2))}, "members must have shape"),
    ],
)
def test_missing_or_malformed_inputs_raise(rule, kwargs, fragment):
    with pytest.raises(ValueError) as info:
        pessimistic_scores(rule, np.zeros(3), **kwargs)
    assert fragment in str(info.value)


def test_mean_rule_returns_a_copy():
    mean = np.array([1.0, 2.0])
    out = pessimistic_scores(Rule("mean"), mean)
    out[0] = 5.0
    assert mean[0] == 1.0


def test_select_best_breaks_ties_to_the_lowest_index_and_counts_them():
    rng = np.random.default_rng(8)
    scores = rng.integers(0, 4, size=(200, 6)).astype(float)  # many ties at the maximum
    index, n_ties = select_best(scores)
    for row, i, t in zip(scores.tolist(), index, n_ties, strict=True):
        assert i == row.index(max(row))
        assert t == row.count(max(row))
    assert index.dtype == np.int64 and n_ties.dtype == np.int64
    assert (n_ties > 1).sum() > 20  # the fixture really has ties
    i3, t3 = select_best(scores.reshape(4, 50, 6))  # any leading shape
    np.testing.assert_array_equal(i3.ravel(), index)
    np.testing.assert_array_equal(t3.ravel(), n_ties)


def test_select_best_rejects_nan_and_empty():
    with pytest.raises(ValueError, match="NaN"):
        select_best([[1.0, np.nan]])
    with pytest.raises(ValueError, match="at least one candidate"):
        select_best(np.zeros((2, 0)))


@pytest.mark.parametrize("module", ["rewardlab.rules", "rewardlab.optimize.curves",
                                    "rewardlab.optimize.plots"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_public_functions_are_documented():
    import rewardlab.optimize as opt

    for name in opt.__all__:
        obj = getattr(opt, name)
        if callable(obj) and not isinstance(obj, type):
            for section in ("Args:", "Returns:", "Raises:", "Example"):
                assert section in (obj.__doc__ or ""), f"{name}: no {section!r}"
