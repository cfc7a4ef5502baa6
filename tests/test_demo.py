"""The main job end to end at reduced size, from the command line: simulate -> train -> evaluate -> audit -> report."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_quick_demo_runs_end_to_end_and_report_has_every_plot(tmp_path):
    """`rewardlab demo --quick` as a user runs it: exit 0, the five stages logged, and every file it promises."""
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "rewardlab", "demo", "--quick", "--output", str(out)],
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert all(f"[{i}/5]" in proc.stderr for i in range(1, 6)), proc.stderr[-3000:]
    assert f"report: {out / 'eval' / 'report.html'}" in proc.stdout
    assert f"model: {out / 'model'}" in proc.stdout
    metrics = json.loads((out / "eval" / "metrics.json").read_text())
    assert set(metrics["datasets"]) == {"heldout_pairs", "sim_pools", "sim_battles"}
    html = (out / "eval" / "report.html").read_text()
    pngs = sorted(p.name for p in (out / "eval").glob("*.png"))
    assert len(pngs) >= 6
    assert html.count("data:image/png;base64,") == len(pngs), "every plot is embedded in the report"
    audit = json.loads((out / "eval" / "audit.json").read_text())
    assert "Reward-hacking audit" in html and "flags" in audit
    assert (out / "model" / "rewardlab.json").exists() and not (out / "model" / "checkpoints").exists()
    n_train = sum(1 for _ in open(out / "data" / "train.jsonl"))
    assert n_train == 400 and sum(1 for _ in open(out / "data" / "heldout_pairs.jsonl")) == 150
    pairs = metrics["datasets"]["heldout_pairs"]
    assert pairs["n"] == 150 and pairs["accuracy"]["estimate"] > 0.5
    # the headline printed on stdout is the held-out accuracy in metrics.json
    assert f"{pairs['accuracy']['estimate']:.3f}" in proc.stdout
