"""The main job end to end at reduced size, from the command line: simulate -> train -> evaluate -> audit -> report."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_quick_demo_runs_end_to_end_and_report_has_every_plot(tmp_path):
    """`rewardlab demo --quick` as a user runs it: exit 0, the six stages logged, and every file it promises."""
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "rewardlab", "demo", "--quick", "--output", str(out)],
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert all(f"[{i}/6]" in proc.stderr for i in range(1, 7)), proc.stderr[-3000:]
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
    # the overoptimisation stage: curves of the demo model against the simulator's gold utility, in the report,
    # with the sweet spot on stdout; the curve at n = 1 is the mean gold of the pool (an exact identity)
    gh = json.loads((out / "eval" / "goodhart.json").read_text())
    assert (gh["n_prompts"], gh["n_candidates"], gh["gold"]) == (16, 8, "column 'scores'")
    spot = gh["sweet_spots"]["demo model"]["mean"]
    assert f"demo model [mean]: sweet spot n* = {spot['n_star']}" in proc.stdout
    assert "Overoptimisation" in html and all(p in pngs for p in gh["plots"])
    pools = gh["proxies"]["demo model"]
    assert pools["curves"]["mean"]["bon"]["gold"]["estimate"][0] == pytest.approx(
        pools["baseline_gold"]["uniform"]["estimate"], abs=1e-9)
