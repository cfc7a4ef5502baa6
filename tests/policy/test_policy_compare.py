"""`rewardlab compare-methods`: the table's numbers are the runs' exact win rates, its intervals scipy's, its
Spearman scipy's on the method means; mistakes are one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from rewardlab.cli import main
from rewardlab.config import ConfigError
from rewardlab.policy.compare import ALPACAFARM, CompareSpec, ranking_spearman, t_interval
from rewardlab.policy.simpolicy import SimPolicy
from rewardlab.policy.winrate import win_rate


def test_t_interval_and_spearman_match_scipy():
    v = [0.61, 0.64, 0.6, 0.66, 0.63]
    ci = t_interval(v)
    lo, hi = stats.t.interval(0.95, len(v) - 1, loc=np.mean(v), scale=stats.sem(v))
    assert (ci["lo"], ci["hi"]) == pytest.approx((lo, hi), abs=1e-12)
    rng = np.random.default_rng(0)
    win = {m: rng.uniform(0.4, 0.8, size=4) for m in ALPACAFARM}
    sp = ranking_spearman(win, n_resamples=200)
    want = stats.spearmanr([win[m].mean() for m in ALPACAFARM], list(ALPACAFARM.values())).statistic
    assert sp["rho"] == pytest.approx(want) and sp["ci"][0] <= sp["ci"][1]
    ordered = {m: np.full(3, v) for m, v in ALPACAFARM.items()}  # same order as theirs, no seed noise
    assert ranking_spearman(ordered, n_resamples=50)["ci"] == [1.0, 1.0]


def test_compare_command_tabulates_exact_win_rates(tmp_path, capsys):
    out = tmp_path / "cmp"
    args = ["compare-methods", "--reward", "gold", "--methods", "sft,feedme,grpo", "--seeds", "2", "--steps", "8",
            "--batch-prompts", "4", "--group", "4", "--n-prompts", "32", "-o", str(out)]
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert "| method | AlpacaFarm (%) | win rate vs base |" in text and "Spearman with AlpacaFarm's ranking" in text
    res = json.loads((out / "compare.json").read_text())
    assert res["schema"] == "rewardlab.compare_methods/1" and (out / "compare.png").stat().st_size > 5000
    base = SimPolicy.from_base("default")
    means = {}
    for row in res["rows"]:
        m = row["method"]
        wins = [win_rate(SimPolicy.load(out / m / f"seed-{s}" / "policy.json"), base) for s in (0, 1)]
        assert row["win_rate"]["values"] == pytest.approx(wins, abs=1e-12)
        assert row["alpacafarm"] == ALPACAFARM[m]
        means[m] = np.mean(wins)
        assert means[m] > 0.5  # optimising gold (or fitting sys-b) beats the base
    assert [r["method"] for r in res["rows"]] == sorted(means, key=lambda m: -means[m])
    order = [m for m in ALPACAFARM if m in means]
    want = stats.spearmanr([means[m] for m in order], [ALPACAFARM[m] for m in order]).statistic
    assert res["spearman"]["rho"] == pytest.approx(want)
    assert (out / "compare.md").read_text().startswith("| method |")
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 2 and "holds an earlier comparison; pass --overwrite" in capsys.readouterr().err


def test_compare_settings_errors():
    with pytest.raises(ConfigError, match="unknown method 'ppo'"):
        CompareSpec(reward="gold", output="o", methods=["ppo"])
    with pytest.raises(ConfigError, match="give each method once"):
        CompareSpec(reward="gold", output="o", methods=["grpo", "grpo"])
    with pytest.raises(ConfigError, match="seeds must be >= 2"):
        CompareSpec(reward="gold", output="o", seeds=1)
