"""best_of_n, run_goodhart and the `bon` / `goodhart` commands, on score files and callables (no model needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from rewardlab import CallableScorer, RewardOutput
from rewardlab.cli import app
from rewardlab.data import write_records
from rewardlab.data.schema import KSampleSet
from rewardlab.errors import RewardlabError
from rewardlab.optimize import as_pools, best_of_n, bon_expected, run_goodhart
from rewardlab.simulate.stage import simulate_kind

runner = CliRunner()


class _Ensemble:
    """A 3-member ensemble scorer: member j rewards length + j * (number of '!' marks)."""

    name = "ensemble"

    def score(self, prompts, responses, progress=True):
        lengths = np.array([len(r) for r in responses], dtype=float)
        bangs = np.array([r.count("!") for r in responses], dtype=float)
        members = np.stack([lengths + j * 10 * bangs for j in range(3)], axis=1)
        return RewardOutput(members.mean(1), members.std(1), members)


def test_best_of_n_picks_by_rule_and_counts_ties():
    cands = [["aaaa", "bb!", "c"], ["xx", "yy", "z"]]
    picks = best_of_n(_Ensemble(), ["p", "q"], cands, select="mean")
    assert [p["index"] for p in picks] == [1, 0]  # "bb!": mean 3 + 10 = 13 beats 4; "xx" ties "yy": lowest index
    assert [p["n_ties"] for p in picks] == [1, 2]
    # the worst member ignores the '!' bonus: the long answer wins under min (and under a strong lcb)
    assert best_of_n(_Ensemble(), ["p"], cands[:1], select="min")[0]["response"] == "aaaa"
    assert best_of_n(_Ensemble(), ["p"], cands[:1], select="lcb:2")[0]["response"] == "aaaa"
    with pytest.raises(RewardlabError, match="cannot serve --select min: .*members"):
        best_of_n(CallableScorer(lambda p, r: len(r)), ["p"], cands[:1], select="min")
    with pytest.raises(RewardlabError, match="--select: "):
        best_of_n(_Ensemble(), ["p"], cands[:1], select="best")


def test_pool_errors_name_the_record():
    sets = [KSampleSet(prompt="p", responses=["a", "b"], scores=[1, 2], id="r0"),
            KSampleSet(prompt="q", responses=["a"], scores=[1], id="r1")]
    with pytest.raises(RewardlabError, match="record r1 has 1 candidates, record r0 has 2"):
        as_pools(sets)
    with pytest.raises(RewardlabError, match="record r1 has 1 candidates, fewer than n = 2"):
        as_pools(sets, n=2)
    assert as_pools(sets, n=1).shape == (2, 1)


def _pool_file(tmp_path, n=12, k=16):
    rows = simulate_kind("pools", n=n, seed=3, k=k)
    path = tmp_path / "pools.jsonl"
    write_records(rows, str(path))
    return rows, path


def test_goodhart_from_a_score_file_matches_the_estimator(tmp_path):
    rows, path = _pool_file(tmp_path)
    # a proxy score file: length in characters (a classic hackable proxy), written as `rewardlab score` writes it
    scores = tmp_path / "proxy.jsonl"
    with open(scores, "w") as f:
        for r in rows:
            for resp in r["responses"]:
                f.write(json.dumps({"prompt": r["prompt"], "response": resp, "reward": float(len(resp))}) + "\n")
    res = runner.invoke(app, ["goodhart", "--data", str(path), "--proxy", f"file:{scores}", "--gold", "scores",
                              "-o", str(tmp_path / "gh"), "--n-resamples", "50"])
    assert res.exit_code == 0, res.output
    assert "sweet spot n* =" in res.stdout
    out = json.loads((tmp_path / "gh" / "goodhart.json").read_text())
    curve = out["proxies"][f"file:{scores}"]["curves"]["mean"]["bon"]
    proxy = np.array([[len(x) for x in r["responses"]] for r in rows], dtype=float)
    gold = np.array([r["scores"] for r in rows], dtype=float)
    expected = bon_expected(proxy, gold, curve["n"]).mean(axis=0)
    np.testing.assert_allclose(curve["gold"]["estimate"], expected, rtol=1e-9)
    # rules that need std or members were skipped for a plain proxy, with the plots written
    assert list(out["proxies"][f"file:{scores}"]["curves"]) == ["mean"]
    assert all((tmp_path / "gh" / p).exists() for p in out["plots"])


def test_goodhart_rules_and_tilted_policy_from_logprobs(tmp_path):
    rows, _ = _pool_file(tmp_path, n=10, k=8)
    rng = np.random.default_rng(0)
    for r in rows:
        r["logprobs"] = rng.normal(size=len(r["responses"])).tolist()
    from rewardlab.data.formats import detect_spec, parse_row

    spec = detect_spec(rows[0])
    pools = as_pools([parse_row(r, spec, "mem", i) for i, r in enumerate(rows)])
    res = run_goodhart(pools, {"ens": _Ensemble()}, "scores", tmp_path / "g", rules=["mean", "min", "uwo:0.5"],
                       pi0="logprobs", n_resamples=20)
    curves = res["proxies"]["ens"]["curves"]
    assert set(curves) == {"mean", "min", "uwo:0.5"}
    # the tilted policy at the largest beta is close to pi_0: its gold is the logprob-weighted pool mean
    gold = np.array([r["scores"] for r in rows])
    lp = np.array([r["logprobs"] for r in rows])
    w = np.exp(lp - lp.max(1, keepdims=True))
    w /= w.sum(1, keepdims=True)
    assert curves["mean"]["tilted"]["gold"]["estimate"][-1] == pytest.approx((w * gold).sum(1).mean(), abs=0.05)
    with pytest.raises(RewardlabError, match="logprobs"):
        run_goodhart(as_pools([parse_row({k: v for k, v in r.items() if k != "logprobs"}, spec, "mem", i)
                               for i, r in enumerate(rows)]), {"ens": _Ensemble()}, "scores", tmp_path / "h",
                     pi0="logprobs")
    with pytest.raises(RewardlabError, match="gold column 'nope'"):
        run_goodhart(pools, {"ens": _Ensemble()}, "nope", tmp_path / "i")


def test_bon_command_writes_one_pick_per_prompt(tmp_path):
    rows, path = _pool_file(tmp_path, n=5, k=6)
    scores = tmp_path / "s.jsonl"
    with open(scores, "w") as f:
        for r in rows:
            for j, resp in enumerate(r["responses"]):
                f.write(json.dumps({"prompt": r["prompt"], "response": resp, "reward": float(j % 3),
                                    "std": 1.0 + j, "members": [float(j % 3) - 1, float(j % 3) + 1]}) + "\n")
    out = tmp_path / "bon.jsonl"
    res = runner.invoke(app, ["bon", "-m", f"file:{scores}", "--data", str(path), "-n", "6", "--select", "lcb:1",
                              "-o", str(out)])
    assert res.exit_code == 0, res.output
    picks = [json.loads(x) for x in out.read_text().splitlines()]
    # rewards 0,1,2,0,1,2 with std 1..6: lcb = reward - std is best at index 0 (0 - 1 = -1)
    assert [p["index"] for p in picks] == [0] * 5 and all(p["score"] == -1.0 for p in picks)
    res = runner.invoke(app, ["bon", "-m", f"file:{scores}", "--data", str(path), "-n", "7", "-o", str(out)])
    assert res.exit_code != 0 and "fewer than n = 7" in str(res.exception or res.output)


# ------------------------------------------------------------------ issue 27: goodhart / bon input checks


def _length_proxy(rows, tmp_path, bad=None):
    """A score file rewarding length; `bad` = (record index, candidate index, value) plants one reward."""
    scores = tmp_path / "proxy.jsonl"
    with open(scores, "w") as f:
        for i, r in enumerate(rows):
            for j, resp in enumerate(r["responses"]):
                v = bad[2] if bad is not None and (i, j) == bad[:2] else float(len(resp))
                f.write(json.dumps({"prompt": r["prompt"], "response": resp, "reward": v}) + "\n")
    return scores


def _goodhart(path, scores, out, *extra):
    return runner.invoke(app, ["goodhart", "--data", str(path), "--proxy", f"file:{scores}", "--gold", "scores",
                               "-o", str(out), *extra])


@pytest.mark.parametrize("n", ["0", "-3"])
def test_goodhart_and_bon_reject_n_below_one(tmp_path, n):
    rows, path = _pool_file(tmp_path, n=4, k=8)
    scores = _length_proxy(rows, tmp_path)
    res = _goodhart(path, scores, tmp_path / "gh", "-n", n)
    assert isinstance(res.exception, RewardlabError) and f"-n must be >= 1, got {n}" in str(res.exception)
    assert not (tmp_path / "gh" / "goodhart.json").exists()
    res = runner.invoke(app, ["bon", "-m", f"file:{scores}", "--data", str(path), "-n", n, "-o",
                              str(tmp_path / "b.jsonl")])
    assert isinstance(res.exception, RewardlabError) and f"-n must be >= 1, got {n}" in str(res.exception)
    # the library entry point too: -3 used to keep the first m - 3 candidates of every pool
    sets = [KSampleSet(prompt="p", responses=list("abcdefgh"), scores=list(range(8)), id="r0")]
    with pytest.raises(RewardlabError, match=f"pools.jsonl: -n .* must be an integer >= 1, got {n}"):
        as_pools(sets, n=int(n), source="pools.jsonl")


def test_goodhart_without_resamples_prints_and_reports_estimates_only(tmp_path):
    rows, path = _pool_file(tmp_path, n=6, k=8)
    scores = _length_proxy(rows, tmp_path)
    res = _goodhart(path, scores, tmp_path / "gh", "--n-resamples", "0")
    assert res.exit_code == 0, res.output
    out = json.loads((tmp_path / "gh" / "goodhart.json").read_text())
    spot = out["sweet_spots"][f"file:{scores}"]["mean"]
    assert spot["gold_at_n_max"]["lo"] is None and spot["gold_at_n_max"]["hi"] is None
    # the estimates are printed without brackets, and they are the estimator's
    gold = np.array([r["scores"] for r in rows], dtype=float)
    proxy = np.array([[len(x) for x in r["responses"]] for r in rows], dtype=float)
    at_max = bon_expected(proxy, gold, [8]).mean()
    assert f"at n = 8: {at_max:.3f}\n" in res.stdout
    assert all((tmp_path / "gh" / p).exists() for p in out["plots"])
    html = (tmp_path / "gh" / "report.html").read_text()
    assert f"{at_max:.3f}</td>" in html
    res = _goodhart(path, scores, tmp_path / "gh2", "--n-resamples", "-1")
    assert isinstance(res.exception, RewardlabError) and "--n-resamples must be >= 0" in str(res.exception)


@pytest.mark.parametrize("bad", [float("inf"), float("-inf")])
def test_goodhart_rejects_an_infinite_proxy_naming_it(tmp_path, bad):
    rows, path = _pool_file(tmp_path, n=4, k=8)
    scores = _length_proxy(rows, tmp_path, bad=(2, 5, bad))
    res = _goodhart(path, scores, tmp_path / "gh")
    assert isinstance(res.exception, RewardlabError), res.output
    assert f"file:{scores}: 1 non-finite rewards (first: {bad} at record {rows[2]['id']}, candidate 5)" in str(
        res.exception)


class _InfStd:
    """Finite rewards with one infinite std: lcb:1 scores that candidate -inf."""

    name = "gauss"

    def score(self, prompts, responses, progress=True):
        mean = np.array([len(r) for r in responses], dtype=float)
        std = np.ones_like(mean)
        std[3] = np.inf
        return RewardOutput(mean, std, None)


def test_run_goodhart_rejects_non_finite_std_naming_the_proxy(tmp_path):
    rows, _ = _pool_file(tmp_path, n=3, k=8)
    from rewardlab.data.formats import detect_spec, parse_row

    spec = detect_spec(rows[0])
    pools = as_pools([parse_row(r, spec, "mem", i) for i, r in enumerate(rows)])
    with pytest.raises(RewardlabError, match=r"gauss: 1 non-finite std values \(first: inf at record .*, candidate 3\)"):
        run_goodhart(pools, {"gauss": _InfStd()}, "scores", tmp_path / "g", rules=["mean", "lcb:1"])


def test_goodhart_n_grid(tmp_path):
    rows, path = _pool_file(tmp_path, n=6, k=12)
    scores = _length_proxy(rows, tmp_path)
    res = _goodhart(path, scores, tmp_path / "gh", "--n-grid", "1,3,5,12", "--n-resamples", "20")
    assert res.exit_code == 0, res.output
    out = json.loads((tmp_path / "gh" / "goodhart.json").read_text())
    assert out["n_grid"] == [1, 3, 5, 12]
    bon = out["proxies"][f"file:{scores}"]["curves"]["mean"]["bon"]
    assert bon["n"] == [1, 3, 5, 12] and len(bon["kl"]) == len(bon["kl_analytic"]) == 4
    gold = np.array([r["scores"] for r in rows], dtype=float)
    proxy = np.array([[len(x) for x in r["responses"]] for r in rows], dtype=float)
    np.testing.assert_allclose(bon["gold"]["estimate"], bon_expected(proxy, gold, [1, 3, 5, 12]).mean(0), rtol=1e-9)
    spot = out["sweet_spots"][f"file:{scores}"]["mean"]
    assert spot["n_max"] == 12 and spot["n_star"] in (1, 3, 5, 12)
    assert bon["fit"]["n_points"] == 4
    # -n and the grid together: the grid is checked against the kept candidates
    res = _goodhart(path, scores, tmp_path / "gh2", "-n", "8", "--n-grid", "1,2,12")
    assert isinstance(res.exception, RewardlabError) and "n = 12 is larger than the pool (8" in str(res.exception)
    for grid, fragment in (("4,2", "strictly increasing"), ("1,2,2", "strictly increasing"), ("0,2", ">= 1"),
                           ("1,x", "'x' is not a whole number"), ("1,2.5", "not a whole number"), ("", "empty")):
        res = _goodhart(path, scores, tmp_path / "gh3", "--n-grid", grid)
        assert isinstance(res.exception, RewardlabError) and fragment in str(res.exception), (grid, res.output)


# ------------------------------------------------------------------ issue 24: bon and goodhart as spec -> run -> result


def test_goodhart_spec_in_python_equals_the_command_and_flags_repeat_or_take_commas(tmp_path):
    from rewardlab.optimize.run import run_bon, run_goodhart_stage
    from rewardlab.optimize.spec import BonSpec, GoodhartSpec

    rows, path = _pool_file(tmp_path, n=6, k=8)
    scores = _length_proxy(rows, tmp_path)
    proxy = f"file:{scores}"
    res = runner.invoke(app, ["goodhart", "-d", str(path), "--proxy", proxy, "--proxy", proxy, "--gold", "scores",
                              "--select", "mean", "-o", str(tmp_path / "cli"), "--n-resamples", "30"])
    assert res.exit_code == 0, res.output
    spec = GoodhartSpec.from_options(data=str(path), proxy=[proxy, proxy], gold="scores", select=["mean"],
                                     output=str(tmp_path / "py"), n_resamples=30)
    py = run_goodhart_stage(spec)
    cli = json.loads((tmp_path / "cli" / "goodhart.json").read_text())
    assert list(cli["proxies"]) == [proxy, proxy + "_"]  # the same proxy twice keeps both, renamed
    assert json.loads(json.dumps(py.result["sweet_spots"])) == cli["sweet_spots"]
    assert py.lines()[0] == res.stdout.splitlines()[0]
    # comma-separated values and repeated flags are the same list
    res2 = runner.invoke(app, ["goodhart", "-d", str(path), "--proxy", f"{proxy},{proxy}", "--gold", "scores",
                               "--select", "mean", "-o", str(tmp_path / "cli2"), "--n-resamples", "30"])
    assert res2.exit_code == 0, res2.output
    assert json.loads((tmp_path / "cli2" / "goodhart.json").read_text())["sweet_spots"] == cli["sweet_spots"]
    # bon: the spec's run writes what the command writes
    out = tmp_path / "picks.jsonl"
    b = run_bon(BonSpec.from_options(model=proxy, data=str(path), select="mean", output=str(out)))
    assert [r["index"] for r in b.rows] == [int(np.argmax([len(x) for x in r["responses"]])) for r in rows]
    assert len(out.read_text().splitlines()) == len(rows)
    with pytest.raises(RewardlabError, match="--model is required"):
        run_bon(BonSpec.from_options(data=str(path), output=str(out)))
    with pytest.raises(RewardlabError, match="select"):
        BonSpec.from_options(select="median")
