"""`rewardlab eval` and `rewardlab score` as stages: the spec's run equals the command, and the reading options
apply to the --data files (a regression: the first spec made --layout with --data an error)."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from rewardlab.cli import app
from rewardlab.data import write_records
from rewardlab.simulate import simulate_pairs

runner = CliRunner()


def _files(tmp_path):
    rows = simulate_pairs(40, seed=2)
    data = tmp_path / "pairs.jsonl"
    write_records(rows, str(data))
    scores = tmp_path / "len.jsonl"  # a length scorer as a score file
    with open(scores, "w") as f:
        for r in rows:
            for resp in (r["chosen"], r["rejected"]):
                f.write(json.dumps({"prompt": r["prompt"], "response": resp, "reward": float(len(resp))}) + "\n")
    return rows, data, scores


def test_eval_spec_equals_the_command_and_reading_options_apply_to_data(tmp_path):
    from rewardlab.data.spec import ReadingOptions
    from rewardlab.eval.eval_stage import EvalSpec, run_eval

    rows, data, scores = _files(tmp_path)
    res = runner.invoke(app, ["eval", "-m", f"file:{scores}", "-d", str(data), "--layout", "explicit",
                              "--n-resamples", "50", "--no-report", "-o", str(tmp_path / "cli")])
    assert res.exit_code == 0, res.output
    cli = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    spec = EvalSpec(model=f"file:{scores}", data=[str(data)], reading=ReadingOptions(layout="explicit"))
    spec = spec.with_overrides({"run.output": str(tmp_path / "py"), "run.n_resamples": 50}, "test")
    py = run_eval(spec)
    acc = cli["datasets"]["pairs"]["accuracy"]
    assert py.metrics["datasets"]["pairs"]["accuracy"] == acc
    longer = np.mean([len(r["chosen"]) > len(r["rejected"]) for r in rows])
    assert abs(acc["estimate"] - longer) < 1e-9  # the length scorer's accuracy is the longer-wins share
    bad = runner.invoke(app, ["eval", "-m", f"file:{scores}", "--layout", "explicit", "-o", str(tmp_path / "x")])
    assert bad.exit_code != 0 and "--layout is a reading option for a data file, but no --data was given" in str(
        bad.exception)


def test_eval_reads_every_data_file_with_the_reading_options(tmp_path):
    """Several --data files, one set of reading options, no special case for the first file (issue 24: the
    command used to put the first file into the reading section)."""
    from rewardlab.cli_spec import Command, build_spec
    from rewardlab.eval.eval_stage import EvalSpec

    rows, data, scores = _files(tmp_path)
    other = tmp_path / "other.jsonl"
    write_records(rows[:10], str(other))
    res = runner.invoke(app, ["eval", "-m", f"file:{scores}", "-d", f"{data},{other}", "--layout", "explicit",
                              "--limit", "7", "--n-resamples", "20", "--no-report", "-o", str(tmp_path / "cli")])
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "cli" / "metrics.json").read_text())
    assert {name: d["n"] for name, d in metrics["datasets"].items()} == {"pairs": 7, "other": 7}
    cmd = Command("eval", EvalSpec, "rewardlab.eval.eval_stage:run_eval", help="", show=lambda r, s: None)
    spec, _ = build_spec(cmd, {"data": ["a.jsonl,b.jsonl"], "reading__layout": "explicit"})
    assert spec.data == ["a.jsonl", "b.jsonl"] and spec.reading.layout == "explicit"


def test_score_spec_writes_what_the_command_writes(tmp_path):
    from rewardlab.eval.score_stage import ScoreSpec, run_score

    rows, data, scores = _files(tmp_path)
    res = runner.invoke(app, ["score", "-m", f"file:{scores}", "-d", str(data), "-o", str(tmp_path / "a.jsonl")])
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[-1] == f"wrote {tmp_path / 'a.jsonl'}"
    py = run_score(ScoreSpec.from_options(model=f"file:{scores}", data=str(data), output=str(tmp_path / "b.jsonl")))
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()
    assert [r["reward"] for r in py.rows[:2]] == [float(len(rows[0]["chosen"])), float(len(rows[0]["rejected"]))]
