"""spread_error_spearman: the within-prompt Spearman correlation between a proxy's spread and its |error| against
gold, checked against scipy's spearmanr prompt by prompt, on built spreads (tracking the error, unrelated to it),
and in `rewardlab goodhart`'s result and terminal lines."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from rewardlab.errors import RewardlabError
from rewardlab.optimize.curves import spread_error_spearman


def _z(x):
    return (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True)


def test_equals_scipy_prompt_by_prompt_with_ties():
    rng = np.random.default_rng(0)
    gold = rng.normal(size=(30, 12))
    mean = gold + rng.normal(size=gold.shape)
    std = np.round(rng.uniform(size=gold.shape), 1)  # ties in the spread
    got = spread_error_spearman(mean, std, gold)
    err = np.abs(_z(mean) - _z(gold))
    want = [spearmanr(s, e).statistic for s, e in zip(std, err, strict=True)]
    np.testing.assert_allclose(got["per_prompt"], want, atol=1e-12)
    assert got["mean"] == pytest.approx(float(np.mean(want)))
    assert got["n_prompts"] == 30


def test_built_spreads_read_as_built():
    rng = np.random.default_rng(1)
    gold = rng.normal(size=(50, 16))
    mean = gold + rng.normal(size=gold.shape)
    err = np.abs(_z(mean) - _z(gold))
    assert spread_error_spearman(mean, err, gold)["mean"] == pytest.approx(1.0)
    assert spread_error_spearman(mean, -err, gold)["mean"] == pytest.approx(-1.0)
    unrelated = spread_error_spearman(mean, rng.uniform(size=gold.shape), gold)["mean"]
    assert abs(unrelated) < 0.1  # 50 prompts x 16: the mean of 50 null correlations has SD about 0.04


def test_constant_spread_is_undefined_not_zero():
    gold = np.arange(12.0).reshape(2, 6)
    out = spread_error_spearman(gold + 1, np.ones_like(gold), gold)
    assert out["mean"] is None and out["n_prompts"] == 0 and out["per_prompt"] == [None, None]
    with pytest.raises(RewardlabError, match="m >= 3"):
        spread_error_spearman(np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 2)))


def test_goodhart_reports_it_beside_pessimistic_rules(tmp_path):
    from rewardlab.optimize.run import format_sweet_spots, run_goodhart
    from rewardlab.scoring import CallableScorer, RewardOutput
    from rewardlab.simulate import simulate_pools

    pools_rows = simulate_pools(8, k=16, seed=3)
    table = {}  # (prompt, response) -> (proxy mean, its standardised |error| within the prompt)
    for q in pools_rows:
        g = np.array([q["scores"]])
        m = g + np.array([[len(r) % 7 for r in q["responses"]]]) * 0.3
        err = np.abs(_z(m) - _z(g))[0]
        table.update({(q["prompt"], r): (m[0, i], err[i]) for i, r in enumerate(q["responses"])})

    class Wide:
        """A proxy whose spread is exactly its standardised |error| (members built around the mean)."""

        name = "wide"

        def score(self, prompts, responses, progress=True):
            rows = np.array([table[(p, r)] for p, r in zip(prompts, responses, strict=True)])
            return RewardOutput(rows[:, 0], std=rows[:, 1])

    from rewardlab.data.formats import detect_spec, parse_row
    from rewardlab.optimize.run import as_pools

    spec = detect_spec(pools_rows[0])
    pools = as_pools([parse_row(r, spec, "mem", i) for i, r in enumerate(pools_rows)])
    res = run_goodhart(pools, {"wide": Wide(), "plain": CallableScorer(lambda prompt, response: len(response))},
                       "scores", tmp_path, rules=["mean", "lcb:1"], n_resamples=0)
    assert res["proxies"]["wide"]["spread_error"]["mean"] == pytest.approx(1.0)
    assert "spread_error" not in res["proxies"]["plain"]  # no std: nothing to correlate
    assert "wide: Spearman(spread, |error vs gold|) within prompts +" in format_sweet_spots(res)
    from rewardlab.report import build_report

    html = build_report(tmp_path).read_text()
    assert "wide: Spearman(spread, |error vs gold|) within prompts +1.000" in html
