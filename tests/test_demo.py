"""The main job end to end at reduced size, from the command line: simulate -> train -> evaluate -> audit ->
best-of-N -> policy optimisation -> report; and the demo's pieces that need no training."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from rewardlab.demo import SIZES, STAGES, DemoResult, _Stages, optimize_line


@pytest.mark.slow
def test_quick_demo_runs_end_to_end_and_report_has_every_plot(tmp_path):
    """`rewardlab demo --quick` as a user runs it: exit 0, the seven stages logged with their times, and every file
    it promises."""
    out = tmp_path / "demo"
    proc = subprocess.run([sys.executable, "-m", "rewardlab", "demo", "--quick", "--output", str(out)],
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert all(f"[{i}/7]" in proc.stderr for i in range(1, 8)), proc.stderr[-3000:]
    stages_line = next(line for line in proc.stdout.splitlines() if line.startswith("stages: "))
    assert [part.split()[0] for part in stages_line.removeprefix("stages: ").split(", ")] == list(STAGES)
    assert f"report: {out / 'eval' / 'report.html'}" in proc.stdout
    assert f"model: {out / 'model'}" in proc.stdout
    metrics = json.loads((out / "eval" / "metrics.json").read_text())
    assert set(metrics["datasets"]) == {"heldout_pairs", "sim_pools", "sim_battles"}
    html = (out / "eval" / "report.html").read_text()
    pngs = sorted(p.name for p in (out / "eval").glob("*.png"))
    assert len(pngs) >= 6
    pngs += [f"optimize/{p.name}" for p in (out / "eval" / "optimize").glob("*.png")]
    assert html.count("data:image/png;base64,") == len(pngs), "every plot is embedded in the report"
    audit = json.loads((out / "eval" / "audit.json").read_text())
    assert "Reward-hacking audit" in html and "flags" in audit
    assert (out / "model" / "rewardlab.json").exists() and not (out / "model" / "checkpoints").exists()
    # training ran without its own held-out pass (stage 3 scores the same pairs) and on every training pair
    meta = json.loads((out / "model" / "rewardlab.json").read_text())
    assert meta["data"]["n_train"] == 400 and meta["data"]["n_eval"] == 0
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
    # the policy-optimisation stage: GRPO against the demo model with the simulator's gold beside the proxy, every
    # step logged with finite figures, its section and plot in the report, its summary on stdout
    size = SIZES["quick"]
    opt_dir = out / "eval" / "optimize"
    records = [json.loads(line) for line in (opt_dir / "steps.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(size.optimize_steps + 1))
    for r in records:
        assert all(math.isfinite(r[k]) for k in ("proxy", "gold", "kl", "win_rate", "gold_sampled", "words"))
        assert 0 <= r["rates"]["correct"] <= 1
    assert abs(records[0]["kl"]) < 1e-9 and records[-1]["kl"] > 0.01  # the policy moved away from the base
    assert len({r["proxy"] for r in records}) > 1 and len({r["gold"] for r in records}) > 1
    opt = json.loads((opt_dir / "optimize.json").read_text())
    assert (opt["method"], opt["steps"]) == ("grpo", size.optimize_steps)
    assert opt["spec"]["group"] == size.optimize_group and opt["spec"]["batch_prompts"] == size.optimize_prompts
    # every step scored group x prompts samples of the demo model (the cache counts each once)
    assert opt["cache"]["hits"] + opt["cache"]["misses"] == (size.optimize_steps + 1) * size.optimize_prompts \
        * size.optimize_group
    assert opt["sweet_spot"]["gold"] == max(r["gold"] for r in records)
    assert "Policy optimisation against the reward model" in html and "optimize/optimize.png" in pngs
    assert f"grpo, {size.optimize_steps} steps against the demo model: gold {records[0]['gold']:.3f}" in proc.stdout


def test_stage_times_and_lines():
    """Each stage's wall time is kept in order; the lines name the optimisation's base, sweet spot and end."""
    stages = _Stages(["a", "b"])
    stages.start("a", "first")
    stages.start("b", "second")
    stages.stop()
    assert list(stages.seconds) == ["a", "b"] and all(v >= 0 for v in stages.seconds.values())
    from rewardlab.results.curves import OptimizeSummary, StepRecord

    rec = StepRecord(step=0, kl=0.0, proxy=-0.25, gold=1.866)
    opt = OptimizeSummary(method="grpo", steps=16, records=[rec],
                          sweet_spot=StepRecord(step=6, kl=1.12, proxy=-0.25, gold=2.439),
                          final=StepRecord(step=16, kl=3.07, proxy=1.04, gold=2.081))
    res = DemoResult(output=None, model="m", report="r", metrics={"datasets": {}}, audit=None, seconds=3.0,
                     optimize=opt, stage_seconds={"simulate": 1.0, "train": 2.0})
    lines = res.lines()
    assert optimize_line(opt) in lines and lines[-1] == "stages: simulate 1 s, train 2 s"
    assert "2.439 at step 6 (sweet spot, KL 1.12" in optimize_line(opt) and "2.081 at step 16" in optimize_line(opt)


def test_precision_option_reaches_the_training(monkeypatch):
    """`rewardlab demo --no-bf16` trains in fp32 on any hardware; by default the hardware decides (None)."""
    import rewardlab.demo as demo

    got = []
    monkeypatch.setattr(demo, "run_demo", lambda output, quick, seed, bf16: got.append(bf16))
    demo.run(demo.DemoSpec.from_options(quick=True, bf16=False))
    demo.run(demo.DemoSpec.from_options(quick=True))
    assert got == [False, None]
