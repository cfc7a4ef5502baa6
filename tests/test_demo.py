"""The main job end to end at reduced size: simulate -> train -> evaluate -> audit -> report."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_quick_demo_runs_end_to_end_and_report_has_every_plot(tmp_path):
    from rewardlab.demo import run_demo

    res = run_demo(tmp_path / "demo", quick=True, log=lambda *_: None)
    metrics = json.loads((tmp_path / "demo" / "eval" / "metrics.json").read_text())
    assert set(metrics["datasets"]) == {"heldout_pairs", "sim_pools", "sim_battles"}
    html = res.report.read_text()
    pngs = sorted(p.name for p in (tmp_path / "demo" / "eval").glob("*.png"))
    assert len(pngs) >= 6
    assert html.count("data:image/png;base64,") == len(pngs), "every plot is embedded in the report"
    assert "Reward-hacking audit" in html and res.audit is not None and "flags" in res.audit
    assert (tmp_path / "demo" / "model" / "rewardlab.json").exists()
    assert res.metrics["datasets"]["heldout_pairs"]["accuracy"]["estimate"] > 0.5
