"""Training engine end to end: learning against the simulator's gold truth, Gaussian sigma vs annotator noise,
exact resume, atomic checkpoints, the frozen-feature fast path, and DDP on two CPU processes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from transformers import TrainerCallback

from conftest import rewards
from rewardlab.data import write_records
from rewardlab.models import load
from rewardlab.runtime import fast_bf16
from rewardlab.scoring.base import ModelScorer
from rewardlab.simulate import SimConfig, simulate_pairs
from rewardlab.train.config import TrainConfig
from rewardlab.train.trainer import COMPLETE_MARKER, latest_complete_checkpoint, train

QUIET = {"progress": False, "logging_steps": 1000}


def _sim(path, n, seed, cfg):
    rows = simulate_pairs(n, seed=seed, config=cfg)
    write_records(rows, str(path))
    return rows


def _label_accuracy(margin):
    """Accuracy on the drawn labels (every label prefers `chosen`) of a chosen - rejected margin; ties count 1/2."""
    return float(np.mean(np.where(margin == 0, 0.5, margin > 0)))


def _expected_accuracy(rows, margin):
    """Accuracy expected over the annotator's label noise: P(label agrees with the sign of `margin`), averaged.

    Same mean as accuracy on the drawn labels but without their sampling noise (about +-1.4 points on 1,000 pairs).
    """
    p = np.array([r["p_chosen"] for r in rows])
    return float(np.mean(np.where(margin > 0, p, np.where(margin < 0, 1 - p, 0.5))))


def _gold_gap_run(tmp_path, n_train: int, n_eval: int = 1000) -> dict[str, float]:
    """MiniLM + BT on the low-noise families (arithmetic, facts, false premise) with correctness held fixed
    (MiniLM cannot check sums), one epoch on `n_train` simulated pairs; held-out accuracy beside the gold utility's
    on the same 1,000 pairs, on the drawn labels and in expectation over the label noise."""
    sim = SimConfig()
    sim.propensities.accuracy = 1.0
    sim.family_weights = {f: (1.0 if f in ("arithmetic", "facts", "false_premise") else 0.0)
                          for f in sim.family_weights}
    _sim(tmp_path / "tr.jsonl", n_train, 0, sim)
    ev = _sim(tmp_path / "ev.jsonl", n_eval, 99, sim)
    cfg = TrainConfig.from_options(output=str(tmp_path / "rm"), data=str(tmp_path / "tr.jsonl"), eval_data=str(tmp_path / "ev.jsonl"),
                      lr=2e-4, batch_size=16, bf16=fast_bf16(), epochs=1, max_length=160, **QUIET)
    res = train(cfg)
    assert os.path.exists(tmp_path / "rm" / "rewardlab.json")
    scorer = ModelScorer(load(str(tmp_path / "rm")))
    prompts = [r["prompt"] for r in ev]
    margin = (scorer.score(prompts, [r["chosen"] for r in ev], progress=False).mean
              - scorer.score(prompts, [r["rejected"] for r in ev], progress=False).mean)
    gold_margin = np.array([r["gold_chosen"] - r["gold_rejected"] for r in ev])
    out = {"accuracy": res.metrics["accuracy"], "gold": _label_accuracy(gold_margin),
           "expected": _expected_accuracy(ev, margin), "expected_gold": _expected_accuracy(ev, gold_margin)}
    # the saved checkpoint, scored in fp32, agrees with the trainer's bf16 evaluation (a few near-ties may flip)
    assert abs(_label_accuracy(margin) - out["accuracy"]) < 0.01, (_label_accuracy(margin), out["accuracy"])
    return out


@pytest.mark.slow
def test_minilm_bt_learns_toward_gold_accuracy(tmp_path):
    """The CI-sized run: 1,200 pairs, 500 held-out pairs, about 5 minutes on 2 AVX2 cores; learning is guarded at
    12 points below gold.

    Measured (2026-11-30, fp32): held-out accuracy 0.672 vs gold 0.739 (6.7 points); in expectation over the label
    noise 0.675 vs 0.766 (9.1 points). A model that learns nothing scores 0.5. The larger runs are extended checks:
    `test_minilm_bt_learns_within_10_points_at_2000_pairs` and `test_minilm_bt_within_5_points_of_gold` (8,000 pairs).
    """
    r = _gold_gap_run(tmp_path, 1200, n_eval=500)
    assert r["accuracy"] >= r["gold"] - 0.12, r
    assert r["expected"] >= r["expected_gold"] - 0.12, r


@pytest.mark.extended
def test_minilm_bt_learns_within_10_points_at_2000_pairs(tmp_path):
    """2,000 pairs (about 8 minutes on 2 AVX2 cores, 2 on AVX-512), guarded at 10 points below gold.

    Issue 3's 5-point target needs more data than this budget; `test_minilm_bt_within_5_points_of_gold` (extended,
    8,000 pairs) checks it. Measured here (held-out accuracy / expected accuracy, gold 0.768 / 0.769): batch 16,
    lr 2e-4: 0.711 / 0.693; cls or mean pooling, batch 32, a 10x head learning rate: 0.69-0.70 expected; lr 4e-4
    0.676; two epochs 0.724 / 0.716; 4,000 pairs 0.713 / 0.718. The missing points are prompt-response relevance
    (a relevant answer beside an answer to another question: 40 of 125 such held-out pairs wrong at 2,000 pairs, 3
    of 298 when the training data has 2.5x as many such pairs) and the small-weight attributes.
    """
    r = _gold_gap_run(tmp_path, 2000)
    assert r["accuracy"] >= r["gold"] - 0.10, r
    assert r["expected"] >= r["expected_gold"] - 0.10, r


@pytest.mark.extended
def test_minilm_bt_within_5_points_of_gold(tmp_path):
    """Issue 3's check at the data size that reaches it: 8,000 pairs, one epoch (about 8 minutes on 2 cores).

    Measured: held-out accuracy 0.7325 vs gold 0.7675 (3.5 points), the metric the issue names and asserted here;
    in expectation over the label noise 0.720 vs 0.769 (4.9 points, too close to the line to assert without
    flakiness across CPU kernels, so it is only reported in the failure message).
    """
    r = _gold_gap_run(tmp_path, 8000)
    assert r["accuracy"] >= r["gold"] - 0.05, r


def test_gaussian_sigma_orders_families_by_tau(tmp_path):
    """Frozen MiniLM features + Gaussian head: predicted sigma per family follows the configured annotator tau."""
    sim = SimConfig()
    sim.propensities.accuracy = 1.0
    taus = {"facts": 0.3, "units": 1.0, "advice": 3.0}
    sim.family_weights = {f: (1.0 if f in taus else 0.0) for f in sim.family_weights}
    sim.taus.update(taus)
    _sim(tmp_path / "tr.jsonl", 1200, 0, sim)
    ev = simulate_pairs(300, seed=5, config=sim)
    cfg = TrainConfig.from_options(output=str(tmp_path / "g"), data=str(tmp_path / "tr.jsonl"), head="gaussian", pooling="mean",
                      freeze_backbone=True, head_epochs=60, bf16=fast_bf16(), max_length=160, eval_split=0.0, **QUIET)
    res = train(cfg)
    sigma = {}
    for fam in taus:
        rs = [r for r in ev if r["category"] == fam]
        out = rewards(res.loaded, [r["prompt"] for r in rs] * 2, [r["chosen"] for r in rs] + [r["rejected"] for r in rs])
        sigma[fam] = float(out["var"].sqrt().mean())
    assert sigma["facts"] < sigma["units"] < sigma["advice"], f"mean sigma per family {sigma} vs tau {taus}"


def test_frozen_fast_path_matches_full_forward(tmp_path):
    """Loss and rewards from cached features equal those of the plain forward pass (1e-4)."""
    from rewardlab.data.formats import detect_spec, parse_pair
    from rewardlab.models import HeadSpec, build_reward_model
    from rewardlab.train.collate import PairCollator, encode_pairs, pair_columns
    from rewardlab.train.frozen import example_features
    from rewardlab.train.losses import get_loss, pair_loss
    from rewardlab.train.trainer import RewardTrainingModule

    rows = simulate_pairs(12, seed=3)
    pairs = [parse_pair(r, detect_spec(rows[0])) for r in rows]
    for spec in (HeadSpec(), HeadSpec("ensemble", 3, True, pooling="mean")):
        lm = build_reward_model("minilm", spec, freeze_backbone=True)
        loss_fn = get_loss("gaussian" if spec.member_gaussian else "bt")
        ex = encode_pairs(lm.renderer, pairs)
        module = RewardTrainingModule(lm.model, loss_fn).eval()
        with torch.no_grad():
            full = module(**PairCollator(lm.tokenizer.pad_token_id)(ex))
            fc, fr = example_features(lm.model, ex, lm.tokenizer.pad_token_id, progress=False)
            out_chosen, out_rejected = lm.model.split(lm.model.head_logits(fc)), lm.model.split(lm.model.head_logits(fr))
            fast, _ = pair_loss(lm.model, loss_fn, out_chosen, out_rejected, pair_columns(ex))
        torch.testing.assert_close(fast, full["loss"], atol=1e-4, rtol=0)
        torch.testing.assert_close(out_chosen["mean"], full["chosen"], atol=1e-4, rtol=0)


class _Kill(TrainerCallback):
    def __init__(self, at: int):
        self.at = at

    def on_step_end(self, args, state, control, **kw):
        if state.global_step == self.at:
            raise KeyboardInterrupt("simulated kill")


class _CountSteps(TrainerCallback):
    """Records the global step a run starts at and the step number after each optimiser step."""

    def __init__(self):
        self.begin, self.steps = None, []

    def on_train_begin(self, args, state, control, **kw):
        self.begin = state.global_step

    def on_step_end(self, args, state, control, **kw):
        self.steps.append(state.global_step)


def _params(path):
    lm = load(path)
    return {k: v.clone() for k, v in lm.model.state_dict().items()}


def test_resume_after_kill_gives_identical_parameters(tmp_path, tiny_decoder, caplog, rewardlab_log):
    base = dict(model=tiny_decoder, sim_n=96, sim_eval_n=16, batch_size=8, max_steps=8, save_steps=3, lr=1e-3,
                max_length=128, **QUIET)
    ref = train(TrainConfig.from_options(output=str(tmp_path / "a"), **base))
    out_b = str(tmp_path / "b")
    with pytest.raises(KeyboardInterrupt):
        train(TrainConfig.from_options(output=out_b, **base), callbacks=[_Kill(5)])
    ck = latest_complete_checkpoint(out_b)
    assert ck is not None and ck.endswith("checkpoint-3")
    # a half-written later checkpoint (no completion marker) must not be picked
    half = os.path.join(out_b, "checkpoints", "checkpoint-6")
    shutil.copytree(ck, half)
    os.remove(os.path.join(half, COMPLETE_MARKER))
    os.remove(os.path.join(half, "model.safetensors"))
    assert latest_complete_checkpoint(out_b) == ck
    caplog.clear()
    steps = _CountSteps()
    train(TrainConfig.from_options(output=out_b, resume=True, **base), callbacks=[steps])
    notes = list(rewardlab_log)
    # it resumed from the complete checkpoint, not from scratch: the log names checkpoint-3, the first step the
    # resumed run takes is step 4, and it takes exactly the 8 - 3 = 5 remaining optimiser steps
    assert f"resuming from {ck}" in notes, notes
    assert not any("starting from scratch" in n for n in notes), notes
    assert steps.begin == 3 and steps.steps == [4, 5, 6, 7, 8], (steps.begin, steps.steps)
    pa, pb = _params(ref.output), _params(out_b)
    for k in pa:
        torch.testing.assert_close(pa[k], pb[k], atol=1e-6, rtol=0, msg=f"parameter {k} differs after resume")


def test_margin_loss_without_margins_is_a_clear_error(tmp_path):
    from rewardlab.errors import RewardlabError

    with pytest.raises(RewardlabError, match="margin"):
        train(TrainConfig.from_options(output=str(tmp_path / "m"), loss="margin", sim_n=20, **QUIET))


def test_the_train_command_leaves_the_process_group(tmp_path, tiny_decoder):
    """`rewardlab train` (run_train) destroys the launcher's process group once the model is saved: a torchrun
    process that exits with its gloo group still up can be aborted at exit ('terminate called without an active
    exception', SIGABRT), which failed a CI run after training had finished. A one-process gloo group stands in
    for torchrun's; `train()` alone leaves it up for a Python caller's further collective work."""
    import torch.distributed as dist

    from rewardlab.train.trainer import run_train

    data = tmp_path / "pairs.jsonl"
    _sim(data, 16, 5, SimConfig())
    opts = dict(model=tiny_decoder, data=str(data), eval_split=0.0, max_steps=1, max_length=64, **QUIET)
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        train(TrainConfig.from_options(output=str(tmp_path / "a"), **opts))
        assert dist.is_initialized()
        res = run_train(TrainConfig.from_options(output=str(tmp_path / "b"), **opts))
        assert not dist.is_initialized()
        assert os.path.exists(os.path.join(res.output, "model.safetensors"))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


@pytest.mark.slow
def test_ddp_two_cpu_processes(tmp_path, tiny_decoder):
    """torchrun --nproc_per_node 2 (gloo, batch 4 per process) equals one process with batch 8 (the same global
    batch, same seed, no length grouping: the same pairs in each step) after 3 steps: rewards within 2e-4 (float
    summation order differs between one sum of 8 and two averaged sums of 4). Both ranks ran (each logs its
    layout), and gradients were averaged: one process with batch 4 (what a rank would do alone) is far off."""
    data = tmp_path / "pairs.jsonl"
    _sim(data, 48, 5, SimConfig())
    common = dict(model=tiny_decoder, data=str(data), eval_split=0.0, max_steps=3, lr=2e-3, max_length=96,
                  group_by_length=False, seed=3)
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
           "-m", "rewardlab", "train", "--model", tiny_decoder, "--data", str(data), "--eval-split", "0",
           "--output", str(out), "--max-steps", "3", "--lr", "2e-3", "--batch-size", "4", "--max-length", "96",
           "--no-group-by-length", "--seed", "3", "--logging-steps", "1", "--device", "cpu"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "saved reward model" in proc.stdout
    assert proc.stderr.count("pair layout: prefix") == 2, proc.stderr[-3000:]  # one line per rank
    one = train(TrainConfig.from_options(output=str(tmp_path / "one"), batch_size=8, **common, **QUIET))
    half = train(TrainConfig.from_options(output=str(tmp_path / "half"), batch_size=4, **common, **QUIET))
    prompts = ["What is 2+2?", "Name a city in France.", "Hi"]
    responses = ["4", "Paris is a city in France.", "Hello! How can I help?"]
    r_ddp = rewards(load(str(out)), prompts, responses)["mean"]
    r_one = rewards(one.loaded, prompts, responses)["mean"]
    r_half = rewards(half.loaded, prompts, responses)["mean"]
    torch.testing.assert_close(r_ddp, r_one, atol=2e-4, rtol=0)
    assert float((r_half - r_one).abs().max()) > 20 * 2e-4, (r_half, r_one)


def test_lora_trains_end_to_end(tmp_path, tiny_decoder):
    """train(lora=True): the adapters and the head move, the backbone's own weights do not, the saved adapter
    checkpoint reloads to the trained rewards, and its training loss falls."""
    from transformers import AutoModelForSequenceClassification

    from rewardlab.models.backbone import resolve_model_path

    steps = _CountSteps()
    cfg = TrainConfig.from_options(model=tiny_decoder, lora=True, lora_r=4, sim_n=48, eval_split=0.0, sim_eval_n=8,
                      batch_size=8, max_steps=6, lr=5e-3, max_length=128, output=str(tmp_path / "lora"), **QUIET)
    res = train(cfg, callbacks=[steps])
    assert steps.steps == [1, 2, 3, 4, 5, 6]
    assert os.path.exists(tmp_path / "lora" / "adapter" / "adapter_config.json")
    named = dict(res.loaded.model.named_parameters())
    lora_b = [p for n, p in named.items() if "lora_B" in n]
    assert lora_b and all(p.requires_grad for p in lora_b)
    assert max(float(p.detach().abs().max()) for p in lora_b) > 1e-4  # lora_B starts at 0: the adapters were trained
    base = AutoModelForSequenceClassification.from_pretrained(resolve_model_path(tiny_decoder))
    base_sd = base.state_dict()
    frozen = [(n, p) for n, p in named.items() if not p.requires_grad and "q_proj.base_layer.weight" in n]
    assert frozen
    for n, p in frozen:
        key = n.split("model.model.", 1)[-1].replace(".base_layer", "")
        ref = next(v for k, v in base_sd.items() if k.endswith(key))
        torch.testing.assert_close(p.detach(), ref, atol=0, rtol=0, msg=f"{n} moved")
    prompts, responses = ["What is 2+2?", "Hi"], ["4", "Hello!"]
    torch.testing.assert_close(rewards(load(str(tmp_path / "lora")), prompts, responses)["mean"],
                               rewards(res.loaded, prompts, responses)["mean"], atol=1e-5, rtol=0)


def test_anchor_columns_reach_the_gaussian_loss(tmp_path, tiny_decoder):
    """--anchor-columns gold_chosen,gold_rejected: thresholds are the 25th/75th percentiles of the training pairs'
    external scores (numpy reference), saved with the model; the anchor term is in the training loss (logged),
    and it changes training (final rewards differ from the same run with anchor_lambda=0)."""
    rows = _sim(tmp_path / "tr.jsonl", 40, 8, SimConfig())
    gold = np.array([r["gold_chosen"] for r in rows] + [r["gold_rejected"] for r in rows])
    runs = {}
    for lam in (0.5, 0.0):
        rec = _LogRecorder()
        cfg = TrainConfig.from_options(model=tiny_decoder, data=str(tmp_path / "tr.jsonl"), eval_split=0.0, head="gaussian",
                          loss="gaussian", anchor_columns=["gold_chosen", "gold_rejected"], anchor_lambda=lam,
                          batch_size=8, max_steps=3, lr=5e-3, max_length=128, progress=False, logging_steps=1,
                          output=str(tmp_path / f"g{lam}"))
        runs[lam] = (train(cfg, callbacks=[rec]), rec.logs)
    meta = json.loads((tmp_path / "g0.5" / "rewardlab.json").read_text())
    assert meta["anchor_thresholds"] == pytest.approx(list(np.percentile(gold, [25, 75])))
    logs = runs[0.5][1]
    assert logs and all(np.isfinite(entry["train_loss_anchor"]) and entry["train_loss_anchor"] > 0 for entry in logs)
    a = rewards(runs[0.5][0].loaded, ["What is 2+2?"], ["4"])["mean"]
    b = rewards(runs[0.0][0].loaded, ["What is 2+2?"], ["4"])["mean"]
    assert float((a - b).abs()) > 1e-4


class _LogRecorder(TrainerCallback):
    def __init__(self):
        self.logs: list[dict] = []

    def on_log(self, args, state, control, logs=None, **kw):
        if logs and "loss" in logs:
            self.logs.append(dict(logs))
