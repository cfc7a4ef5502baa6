"""The typed results read and write their JSON files unchanged: the demo's metrics.json, audit.json and
goodhart.json (tests/results/files, written by `rewardlab demo --quick --seed 0`), an optimize.json, a
comparison.json; older files with fewer keys load with defaults; a broken file is one error naming it and the
field."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rewardlab.errors import RewardlabError
from rewardlab.results import read_result, write_result
from rewardlab.results.audit import AuditReport
from rewardlab.results.compare import Comparison
from rewardlab.results.curves import GoodhartCurves, OptimizeSummary
from rewardlab.results.metrics import BattlesMetrics, EvalMetrics, KSampleMetrics, PairsMetrics

FILES = Path(__file__).parent / "files"
DEMO = [("metrics.json", EvalMetrics), ("audit.json", AuditReport), ("goodhart.json", GoodhartCurves)]


@pytest.mark.parametrize(("name", "cls"), DEMO)
def test_the_demo_files_round_trip_byte_for_byte(tmp_path, name, cls):
    res = read_result(FILES / name, cls)
    assert res.to_dict() == json.loads((FILES / name).read_text())
    write_result(tmp_path / name, res)
    assert (tmp_path / name).read_text() == (FILES / name).read_text()


def test_the_demo_metrics_are_typed_by_record_kind():
    m = read_result(FILES / "metrics.json", EvalMetrics)
    kinds = {name: type(d) for name, d in m.datasets.items()}
    assert kinds == {"heldout_pairs": PairsMetrics, "sim_pools": KSampleMetrics, "sim_battles": BattlesMetrics}
    raw = json.loads((FILES / "metrics.json").read_text())["datasets"]
    pairs = m.datasets["heldout_pairs"]
    assert pairs.accuracy.estimate == raw["heldout_pairs"]["accuracy"]["estimate"]
    assert pairs.per_category["facts"].accuracy.hi == raw["heldout_pairs"]["per_category"]["facts"]["accuracy"]["hi"]
    assert pairs.extra["reliability"] == raw["heldout_pairs"]["reliability"]  # undeclared: kept as it was
    assert m.datasets["sim_battles"].rm_ratings["sys-b"].rating == raw["sim_battles"]["rm_ratings"]["sys-b"]["rating"]


def test_an_optimize_json_and_a_comparison_round_trip(tmp_path):
    from rewardlab.cli import main
    from rewardlab.report import build_comparison

    with pytest.raises(SystemExit):
        main(["optimize", "--reward", "annotator:human_like", "--steps", "2", "--group", "4", "--batch-prompts", "4", "--n-prompts", "8", "--no-plot",
              "-o", str(tmp_path / "opt")])
    path = tmp_path / "opt" / "optimize.json"
    res = read_result(path, OptimizeSummary)
    assert len(res.records) == 3 and res.final is not None and res.final.step == 2
    write_result(tmp_path / "again.json", res)
    assert (tmp_path / "again.json").read_text() == path.read_text()
    for m in ("a", "b"):
        (tmp_path / m).mkdir()
        shutil.copy(FILES / "audit.json", tmp_path / m / "audit.json")
    build_comparison({"a": tmp_path / "a", "b": tmp_path / "b"}, tmp_path / "cmp", n_resamples=50)
    cmp_path = tmp_path / "cmp" / "comparison.json"
    cmp = read_result(cmp_path, Comparison)
    assert cmp.baseline == "a" and cmp.models["b"].audit is not None
    assert cmp.to_dict() == json.loads(cmp_path.read_text())


def test_an_older_file_with_fewer_keys_loads_with_defaults(tmp_path):
    old = {"model": "rm", "datasets": {"d": {"kind": "pairs", "n": 4, "accuracy": {"estimate": 0.75, "lo": 0.5,
                                                                                  "hi": 1.0}, "retired": [1, 2]}}}
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(old))
    m = read_result(path, EvalMetrics)
    d = m.datasets["d"]
    assert isinstance(d, PairsMetrics) and m.schema is None and m.plots == {}
    assert (d.warnings, d.per_category, d.gold_agreement, d.n_model_ties) == ([], {}, None, 0)
    assert d.extra == {"retired": [1, 2]}
    assert m.to_dict() == old  # the defaults are not written back


def test_the_report_reads_an_older_file(tmp_path):
    from rewardlab.report import build_report

    (tmp_path / "metrics.json").write_text(json.dumps({"datasets": {"d": {
        "kind": "pairs", "n": 4, "accuracy": {"estimate": 0.75, "lo": 0.5, "hi": 1.0}}}}))
    html = build_report(tmp_path).read_text()
    assert "d: preference pairs" in html and "0.750 [0.500, 1.000]" in html


@pytest.mark.parametrize(("content", "message"), [
    ({"datasets": {"d": {"kind": "pairs", "accuracy": {"estimate": 0.5}}}}, "EvalMetrics.datasets.d.n: missing"),
    ({"datasets": {"d": {"kind": "pairs", "n": "four", "accuracy": {}}}}, "EvalMetrics.datasets.d.n: expected int"),
    ({"datasets": {"d": {"kind": "battles", "n_battles": 2, "models": "ab", "human_ratings": {},
                         "rm_ratings": {}}}}, "EvalMetrics.datasets.d.models: expected list"),
    ({"model": "rm"}, "EvalMetrics.datasets: missing"),
    ({"schema": "rewardlab.audit/1", "datasets": {}}, "schema 'rewardlab.audit/1' is not a EvalMetrics file"),
    ([1, 2], "EvalMetrics: expected EvalMetrics, got list"),
])
def test_a_broken_file_names_the_file_and_the_field(tmp_path, content, message):
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(content))
    with pytest.raises(RewardlabError) as e:
        read_result(path, EvalMetrics)
    assert str(e.value).startswith(f"{path}: ") and message in str(e.value)


def test_invalid_json_is_one_error_naming_the_file(tmp_path):
    from rewardlab.report import build_report

    (tmp_path / "audit.json").write_text('{"flags": [')
    with pytest.raises(RewardlabError, match=r"audit\.json: not valid JSON"):
        build_report(tmp_path)
