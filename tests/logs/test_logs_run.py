"""`rewardlab logs simulate` / `logs eval` end to end, the result's JSON round trip, and bad files named by
file:line: field."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rewardlab.cli import app
from rewardlab.errors import DataValidationError, RewardlabError
from rewardlab.logs.run import LogsEvalResult, run_logs_eval, simulate_logs
from rewardlab.logs.spec import LogsEvalSpec, LogsSimSpec


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    return simulate_logs(LogsSimSpec(output=str(tmp_path_factory.mktemp("logs")), n_obs=4000, n_exp=400, n_sim=300,
                                     seed=5))


def test_cli_simulate_then_eval(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["logs", "simulate", "-o", str(tmp_path / "l"), "--n-obs", "3000", "--n-exp", "300",
                              "--n-sim", "200", "--seed", "2"])
    assert res.exit_code == 0, res.output
    assert "model_0 +0.905" in res.output  # the confounding term of the naive OBS mean
    files = [str(tmp_path / "l" / f) for f in ("obs.jsonl", "exp.jsonl", "sim.jsonl")]
    res = runner.invoke(app, ["logs", "eval", "--obs", files[0], "--exp", files[1], "--sim", files[2], "-o",
                              str(tmp_path / "e"), "--truth", str(tmp_path / "l" / "truth.json"), "--baseline",
                              "model_1"])
    assert res.exit_code == 0, res.output
    assert "difference to model_1" in res.output and "naive_obs" in res.output
    out = LogsEvalResult.read(tmp_path / "e" / "logs_eval.json")
    assert out.baseline == "model_1" and out.plots == ["logs_eval.png"] and (tmp_path / "e" / "logs_eval.png").exists()
    assert out.contrasts["dr"]["model_1"].estimate == 0.0
    assert out.errors["naive_obs"]["model_0"] > 0.6 and out.errors["naive_obs"]["model_2"] < -0.6


def test_given_outcome_model_and_proxy_fields(logs, tmp_path):
    spec = LogsEvalSpec(obs=logs.obs, exp=logs.exp, sim=logs.sim, output=str(tmp_path), truth=logs.truth,
                        outcome_field="oracle_mu", proxy_field="oracle_mu", plots=False)
    res = run_logs_eval(spec)
    assert res.outcome_model == "field 'oracle_mu'"
    # the true outcome model: direct is unbiased and far tighter than the difference in means
    for m in res.models:
        assert abs(res.errors["direct"][m]) < 4 * res.values["direct"][m].se
        assert res.values["dr"][m].se < res.values["dim"][m].se
    assert res.values["dr"] == res.values["obs_corrected"]  # same model, same correction
    again = LogsEvalResult.read(tmp_path / "logs_eval.json")
    assert again == res


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_bad_records_are_named_by_file_line_and_field(logs, tmp_path):
    exp = [json.loads(x) for x in open(logs.exp).read().splitlines()[:40]]
    exp[3]["propensity"] = 0
    del exp[7]["features"]
    exp[9]["reward"] = "high"
    bad = _write(tmp_path / "exp.jsonl", exp)
    with pytest.raises(DataValidationError) as e:
        run_logs_eval(LogsEvalSpec(obs=logs.obs, exp=bad, sim=logs.sim, output=str(tmp_path), plots=False))
    text = str(e.value)
    assert f"{bad}:4: propensity: must be a probability in (0, 1], got 0" in text
    assert f"{bad}:8: features: missing" in text and f"{bad}:10: reward: must be a finite number" in text

    sim = [json.loads(x) for x in open(logs.sim).read().splitlines()]
    holes = _write(tmp_path / "sim.jsonl", sim[:-1])
    with pytest.raises(RewardlabError, match=r"context 'c299' lacks replays of \['model_2'\]"):
        run_logs_eval(LogsEvalSpec(obs=logs.obs, exp=logs.exp, sim=holes, output=str(tmp_path), plots=False))
    sim[0]["features"] = sim[0]["features"][:2]
    short = _write(tmp_path / "sim2.jsonl", sim)
    with pytest.raises(DataValidationError, match=r"sim2.jsonl:2: features: has 4 values, earlier rows have 2"):
        run_logs_eval(LogsEvalSpec(obs=logs.obs, exp=logs.exp, sim=short, output=str(tmp_path), plots=False))
    with pytest.raises(RewardlabError, match="--baseline 'nope' is not one of the models"):
        run_logs_eval(LogsEvalSpec(obs=logs.obs, exp=logs.exp, sim=logs.sim, output=str(tmp_path), baseline="nope",
                                   plots=False))


def test_cli_reports_a_bad_flag_without_a_traceback(logs, tmp_path):
    from rewardlab.cli import main

    with pytest.raises(SystemExit) as e:
        main(["logs", "eval", "--obs", logs.obs, "--exp", logs.exp, "--sim", logs.sim, "-o", str(tmp_path),
              "--confidence", "2"])
    assert e.value.code == 2
