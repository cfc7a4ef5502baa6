"""`rewardlab sweep` end to end on small models: the table's numbers equal an independent evaluation of the kept
models, the length-control row equals eval's cross-fit, and a second call reuses every run (a changed setting is
refused, --overwrite retrains)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from conftest import run_cli
from rewardlab.stats.calibration import pairwise_correct
from rewardlab.sweep.ladder import parse_rung

SMALL = ["--probes", "12", "--n-resamples", "200", "--sim-n", "64", "--sim-eval-n", "48", "--max-steps", "3",
         "--batch-size", "8", "--max-length", "128", "--no-progress", "--logging-steps", "1000"]


def _held_out():
    from rewardlab.simulate.datasets import parse_rows
    from rewardlab.simulate.generate import simulate_pairs

    return parse_rows(simulate_pairs(48, seed=10_000))


def _accuracy(rc, rr, pairs):
    y = np.array([1.0 if p.label is None else p.label for p in pairs])
    return float(pairwise_correct(np.asarray(rc) - np.asarray(rr), y).mean())


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory, tiny_decoder):
    out = tmp_path_factory.mktemp("sweep") / "ladder"
    rungs = f"minilm:1,{tiny_decoder}:1,{tiny_decoder}:lora"
    res = run_cli("sweep", "-o", out, "--rungs", rungs, "--variants", "balance-weights,length-control",
                  "--keep-models", *SMALL, "--set", "optim.lr=1e-3")
    return out, rungs, res


def test_sweep_table_matches_an_independent_evaluation(sweep_dir, tiny_decoder):
    from rewardlab.eval.length_control import cross_fit, pair_data
    from rewardlab.models import load
    from rewardlab.scoring import ModelScorer
    from rewardlab.stats.metrics import gold_agreement

    out, _, res = sweep_dir
    assert "wrote" in res.stdout and "5 runs (0 reused" in res.stdout
    assert "reusing the tokenised 64 pairs" in res.stderr  # the two tiny runs share the tokenisation
    result = json.loads((out / "sweep.json").read_text())
    rows = {(r["rung"], r["variant"]): r for r in result["rows"]}
    top = f"{tiny_decoder}:lora"
    assert list(rows) == [("minilm:1", "plain"), (f"{tiny_decoder}:1", "plain"), (top, "plain"),
                          (top, "balance-weights"), (top, "length-control")]
    ev = _held_out()
    for (rung, variant), row in rows.items():
        if variant != "plain":
            continue
        loaded = load(str(out / "runs" / parse_rung(rung).slug / "model"))
        assert loaded.meta["train_config"]["optim"]["lr"] == 1e-3  # --set reached the run
        scorer = ModelScorer(loaded)
        n = len(ev)
        r = scorer.score([p.prompt for p in ev] * 2, [p.chosen for p in ev] + [p.rejected for p in ev],
                         progress=False).mean
        assert row["accuracy"]["estimate"] == pytest.approx(_accuracy(r[:n], r[n:], ev), abs=1e-9)
        gc = [p.extra["gold_chosen"] for p in ev]
        gr = [p.extra["gold_rejected"] for p in ev]
        gold = gold_agreement(r[:n], r[n:], gc, gr, n_resamples=100)["agreement"]["estimate"]
        assert row["gold_agreement"]["estimate"] == pytest.approx(gold, abs=1e-9)
        total = sum(p.numel() for p in loaded.model.parameters())
        if not rung.endswith("lora"):  # a saved LoRA model is merged: no adapter parameters left
            assert row["params_total"] == total
        assert row["layers"] == loaded.model.config.num_hidden_layers
        if variant == "plain" and rung == top:
            plain_r = r
    assert rows[("minilm:1", "plain")]["layers"] == 1 and rows[("minilm:1", "plain")]["params_total"] < 20e6
    assert rows[(top, "plain")]["params_trainable"] < rows[(top, "plain")]["params_total"] / 2
    # length control: eval's cross-fit of the plain rewards gives the same held-out accuracy
    lc, lr, y, prompts = pair_data(ev)
    n = len(ev)
    qc, qr, _ = cross_fit(plain_r[:n], plain_r[n:], lc, lr, prompts, "log_chars", y)
    lc_row = rows[(top, "length-control")]
    assert lc_row["accuracy"]["estimate"] == pytest.approx(_accuracy(qc, qr, ev), abs=1e-9)
    assert lc_row["vs_plain"]["accuracy"]["estimate"] == pytest.approx(
        _accuracy(qc, qr, ev) - rows[(top, "plain")]["accuracy"]["estimate"], abs=1e-9)
    assert rows[(top, "balance-weights")]["n_train"] == 64 and "vs_plain" in rows[(top, "balance-weights")]
    with open(out / "sweep.csv") as f:
        assert len(list(csv.DictReader(f))) == 5
    md = (out / "sweep.md").read_text()
    assert md.count("\n| ") == 6 and "held-out acc [95% CI]" in md
    assert (out / "sweep.png").stat().st_size > 5000


def test_sweep_resumes_and_guards_its_settings(sweep_dir, monkeypatch, tiny_decoder):
    out, rungs, _ = sweep_dir

    def no_training(*a, **k):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr("rewardlab.train.trainer.train", no_training)
    before = json.loads((out / "sweep.json").read_text())["rows"]
    res = run_cli("sweep", "-o", out, "--rungs", rungs, "--variants", "balance-weights,length-control",
                  "--keep-models", *SMALL, "--set", "optim.lr=1e-3")
    assert "5 runs (5 reused" in res.stdout
    after = json.loads((out / "sweep.json").read_text())["rows"]
    assert after == before
    bad = run_cli("sweep", "-o", out, "--rungs", rungs, *SMALL, "--set", "optim.lr=2e-3", check=False)
    assert bad.returncode == 2 and "made with other settings" in bad.stderr and "optim.lr" in bad.stderr
    monkeypatch.undo()
    again = run_cli("sweep", "-o", out, "--rungs", f"{tiny_decoder}:1", *SMALL, "--set", "optim.lr=2e-3",
                    "--overwrite", "--no-plot")
    assert "1 runs (0 reused" in again.stdout
