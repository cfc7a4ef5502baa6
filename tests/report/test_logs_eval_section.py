"""The report's "Evaluation from logs" section: its numbers are logs_eval.json's, the plot is embedded, the
confounding warning follows the independent-samples difference test, and a folder without logs_eval.json has none."""

from __future__ import annotations

import json
import math
from html.parser import HTMLParser
from statistics import NormalDist

import pytest
from typer.testing import CliRunner

from rewardlab.cli import app
from rewardlab.errors import RewardlabError
from rewardlab.logs.run import LogsEvalResult, run_logs_eval, simulate_logs
from rewardlab.logs.spec import ESTIMATORS, LogsEvalSpec, LogsSimSpec
from rewardlab.report import build_report
from rewardlab.report.logs_eval import confounding_flags

TITLE = "<h2>Evaluation from logs</h2>"


class Tables(HTMLParser):
    """Every <table> of a page as rows of cell texts (a <br> inside a cell becomes '|')."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []
        elif tag == "br" and self.cell is not None:
            self.cell.append("|")

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.tables[-1][-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def _section_tables(html: str) -> list[list[list[str]]]:
    start = html.index(TITLE)
    end = html.find("<h2>", start + len(TITLE))
    p = Tables()
    p.feed(html[start:end if end >= 0 else None])
    return p.tables


def _text(d: dict) -> str:
    return f"{d['estimate']:+.3f} [{d['lo']:+.3f}, {d['hi']:+.3f}]"


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    root = tmp_path_factory.mktemp("logs")
    sim = simulate_logs(LogsSimSpec(output=str(root / "logs"), n_obs=3000, n_exp=300, n_sim=200, seed=3))
    runner = CliRunner()
    res = runner.invoke(app, ["logs", "eval", "--obs", sim.obs, "--exp", sim.exp, "--sim", sim.sim, "-o",
                              str(root / "eval"), "--truth", sim.truth, "--baseline", "model_1"])
    assert res.exit_code == 0, res.output
    return root, sim, res.output


def test_logs_eval_builds_the_report_and_its_numbers_are_the_json(evaluated):
    root, _, output = evaluated
    folder = root / "eval"
    assert f"report: {folder / 'report.html'}" in output.splitlines()
    raw = json.loads((folder / "logs_eval.json").read_text())  # read independently of LogsEvalResult
    html = (folder / "report.html").read_text()
    assert html.count(TITLE) == 1
    assert "<div class=meta>schema rewardlab.logs_eval/1</div>" in html  # no empty model / created fields
    values, contrasts = _section_tables(html)
    models = raw["models"]
    assert values[0] == ["estimator", *models]
    assert [row[0] for row in values[1:]] == [f"{lab} ({e})" for e, lab in (
        ("dim", "difference in means (EXP)"), ("naive_obs", "naive OBS mean"), ("direct", "direct plug-in (SIM)"),
        ("dr", "doubly robust"), ("obs_corrected", "OBS-trained reward + EXP correction"))] + ["truth"]
    for row, e in zip(values[1:], ESTIMATORS, strict=False):
        for cell, m in zip(row[1:], models, strict=True):
            assert cell == f"{_text(raw['values'][e][m])}|error {raw['errors'][e][m]:+.3f}"
            # the error is the estimate minus the simulator's true value
            assert math.isclose(raw["errors"][e][m], raw["values"][e][m]["estimate"] - raw["truth"][m])
    assert values[-1][1:] == [f"{raw['truth'][m]:+.3f}" for m in models]
    others = [m for m in models if m != "model_1"]
    assert contrasts[0] == ["estimator", *others]
    for row, e in zip(contrasts[1:], ESTIMATORS, strict=True):
        assert row[1:] == [_text(raw["contrasts"][e][m]) for m in others]
        for m in others:  # a contrast is the difference of the two values
            assert math.isclose(raw["contrasts"][e][m]["estimate"], raw["values"][e][m]["estimate"]
                                - raw["values"][e]["model_1"]["estimate"], abs_tol=1e-12)
    assert "Difference to model_1" in html and '<img alt="logs_eval.png" src="data:image/png;base64,' in html
    for phrase in ("1 / its assignment probability", "mean reward of the OBS rows", "averaged over the model&#x27;s "
                   "SIM replays", "(R - mu) / propensity", "a reward trained on OBS"):
        assert phrase in html


def test_the_warning_flags_the_simulated_confounding(evaluated):
    root, sim, _ = evaluated
    raw = json.loads((root / "eval" / "logs_eval.json").read_text())
    z = NormalDist().inv_cdf(0.975)
    expected = []
    for m in raw["models"]:
        for e in ("dim", "dr"):
            n, r = raw["values"]["naive_obs"][m], raw["values"][e][m]
            d, se = n["estimate"] - r["estimate"], math.sqrt(n["se"] ** 2 + r["se"] ** 2)
            if abs(d) > z * se:
                expected.append((m, e, f"{d:+.3f} [{d - z * se:+.3f}, {d + z * se:+.3f}]"))
    res = LogsEvalResult.read(root / "eval" / "logs_eval.json")
    assert [(m, e, iv.text()) for m, e, iv in confounding_flags(res)] == expected
    # the simulator's confounding term is +-0.905 for model_0 and model_2 (0 for model_1): both are flagged
    assert {m for m, _, _ in expected} >= {"model_0", "model_2"}
    html = (root / "eval" / "report.html").read_text()
    assert "Confounding visible" in html
    for m, e, text in expected:
        assert f"{m}: naive - {e} = {text}" in html


def test_no_warning_without_confounding_and_no_section_without_the_file(tmp_path):
    sim = simulate_logs(LogsSimSpec(output=str(tmp_path / "logs"), n_obs=3000, n_exp=300, n_sim=200,
                                    confounding=0.0, seed=4))
    res = run_logs_eval(LogsEvalSpec(obs=sim.obs, exp=sim.exp, sim=sim.sim, output=str(tmp_path / "eval"),
                                     plots=False))
    assert confounding_flags(res) == []
    html = build_report(tmp_path / "eval").read_text()
    assert "Confounding visible" not in html and "no confounding visible" in html
    assert "error vs truth" not in html and "<td>truth</td>" not in html and "<img" not in html
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "data_stats.json").write_text(json.dumps({"quality": None}))
    assert TITLE not in build_report(tmp_path / "other").read_text()


def test_no_report_flag_and_a_bad_logs_eval_json(evaluated, tmp_path):
    _, sim, _ = evaluated
    res = CliRunner().invoke(app, ["logs", "eval", "--obs", sim.obs, "--exp", sim.exp, "--sim", sim.sim, "-o",
                                   str(tmp_path / "e"), "--no-report", "--no-plots"])
    assert res.exit_code == 0, res.output
    assert "report:" not in res.output and not (tmp_path / "e" / "report.html").exists()
    (tmp_path / "e" / "logs_eval.json").write_text(json.dumps({"schema": "something/else"}))
    with pytest.raises(RewardlabError, match="not a logs evaluation"):
        build_report(tmp_path / "e")
