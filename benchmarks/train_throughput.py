"""Training throughput: rewardlab vs TRL's RewardTrainer on the same pairs, side by side, interleaved A B A B.

Both systems get the same token ids (rendered once by rewardlab's RenderSpec; TRL receives them pre-tokenized, the
explicit-prompt layout it builds itself: prompt + chosen and prompt + rejected), the same initial weights (one
freshly built model, copied), backbone, batch size, learning rate and schedule, precision, seed and number of
optimiser steps. Pairs longer than --max-length are removed for both (TRL would drop them; rewardlab would
truncate). TRL runs without gradient checkpointing (its default is on, which is slower; --trl-gc turns it on).
Each run is a fresh subprocess, so peak memory is per run. The training set is a seeded sample of exactly
steps x batch pairs, so every system trains one epoch over the same pairs (in its own order). Throughput excludes model loading and tokenisation and
the first --warmup steps. Quality: mean training loss of the last 10 steps, and accuracy / BT loss of the final
model on the same held-out pairs (a by-prompt split), computed by one fp32 function for both.

    .venv/bin/python benchmarks/train_throughput.py --backbone minilm --data ../shared/data/hh-rlhf-harmless-base-test.jsonl.gz
    .venv/bin/python benchmarks/train_throughput.py --backbone llama-small
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    CACHE,
    PeakMemory,
    backbone_path,
    command_line,
    emit,
    load_bench_pairs,
    machine,
    median,
    parse_result,
    table,
)

PEAK_FILE = CACHE / "matmul_peak.json"
DEFAULT_PEAK = {"fp32": 325.0, "bf16": 2100.0}  # GFLOP/s, the figures when matmul_peak.py has not run


# ------------------------------------------------------------------------------------------------ worker side
class StepTimer:
    """Trainer callback: wall time at the end of every optimiser step."""

    def __init__(self, mem: PeakMemory):
        from transformers import TrainerCallback

        self.times: list[float] = []
        self.mem = mem
        outer = self

        class _CB(TrainerCallback):
            def on_train_begin(self, args, state, control, **kw):
                outer.mem.start()
                outer.times.append(time.perf_counter())

            def on_step_end(self, args, state, control, **kw):
                outer.times.append(time.perf_counter())

            def on_train_end(self, args, state, control, **kw):
                outer.mem.stop()

        self.callback = _CB()


class CountingCollator:
    """Wraps a collator; records per batch the pair tokens, the real tokens computed and the padded tokens."""

    def __init__(self, inner: Any, log: list[tuple[int, int, int]]):
        self.inner = inner
        self.log = log

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self.inner(examples)
        pair_tokens = sum(len(e["chosen_ids"]) + len(e["rejected_ids"]) for e in examples)
        if "segment_ids" in batch:
            real = int((batch["segment_ids"] >= 0).sum())
        else:
            real = int(batch["attention_mask"].sum())
        self.log.append((pair_tokens, real, int(batch["input_ids"].numel())))
        return batch


def non_embedding_params(model: Any) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if "embed" not in n)


@__import__("torch").no_grad()
def evaluate_hf(hf: Any, examples: list[dict[str, Any]], pad_id: int, batch: int = 32) -> dict[str, float]:
    """Held-out accuracy (ties count 0.5) and BT loss of a plain HF sequence classifier, fp32, right padding."""
    import numpy as np
    import torch
    from torch.nn import functional as F

    from rewardlab.batching import pad_batch

    hf.eval()
    hf.float()
    out = np.zeros((len(examples), 2))
    order = np.argsort([-max(len(e["chosen_ids"]), len(e["rejected_ids"])) for e in examples], kind="stable")
    for s in range(0, len(order), batch):
        idx = order[s : s + batch]
        seqs = [examples[i]["chosen_ids"] for i in idx] + [examples[i]["rejected_ids"] for i in idx]
        types = None
        if "chosen_tt" in examples[0]:
            types = [examples[i]["chosen_tt"] for i in idx] + [examples[i]["rejected_tt"] for i in idx]
        b = pad_batch(seqs, pad_id, types)
        r = hf(**b).logits[:, 0].float().numpy()
        out[idx, 0], out[idx, 1] = r[: len(idx)], r[len(idx) :]
    d = out[:, 0] - out[:, 1]
    acc = float(np.mean(np.where(d == 0, 0.5, d > 0)))
    loss = float(-F.logsigmoid(torch.tensor(d)).mean())
    return {"accuracy": acc, "eval_loss": loss}


def _build(spec: dict[str, Any]):
    from rewardlab.models import build_reward_model
    from rewardlab.render import RenderSpec

    return build_reward_model(spec["backbone"], render=RenderSpec(mode=spec["render_mode"], max_length=spec["max_length"]),
                              seed=spec["seed"])


def _encode(lm: Any, path: str) -> list[dict[str, Any]]:
    from rewardlab.data import load_pairs
    from rewardlab.train.collate import encode_pairs

    return encode_pairs(lm.renderer, load_pairs(path).records)


def _summary(spec: dict[str, Any], timer: StepTimer, counts: list, losses: list[float], n_params: int,
             ev: dict[str, float], mem: PeakMemory, extra: dict[str, Any]) -> dict[str, Any]:
    w = spec["warmup"]
    steps = len(timer.times) - 1
    secs = timer.times[-1] - timer.times[w]
    measured = counts[w:steps]
    pairs = spec["batch_size"] * (steps - w)
    pair_tok = sum(c[0] for c in measured)
    real = sum(c[1] for c in measured)
    padded = sum(c[2] for c in measured)
    return {"steps": steps, "seconds": secs, "pairs_per_s": pairs / secs, "tokens_per_s": pair_tok / secs,
            "computed_tokens_per_s": real / secs, "padded_tokens_per_s": padded / secs,
            "padding_share": 1 - real / padded if padded else 0.0,
            "gflops": 6 * n_params * real / secs / 1e9, "n_params_non_embedding": n_params,
            "final_train_loss": sum(losses[-10:]) / max(1, len(losses[-10:])),
            "peak_rss_mib": mem.peak_mib, "train_rss_increase_mib": mem.peak_mib - mem.start_mib, **ev, **extra}


def worker_rewardlab(spec: dict[str, Any]) -> dict[str, Any]:
    import shutil

    from rewardlab.train import trainer as tr
    from rewardlab.train.config import TrainConfig
    from rewardlab.train.prefix import PackedPairCollator

    counts: list[tuple[int, int, int]] = []
    for cls in (tr.PairCollator, PackedPairCollator):  # count tokens per batch (benchmark instrumentation only)
        orig = cls.__call__

        def wrapped(self, examples, _orig=orig):
            batch = _orig(self, examples)
            return CountingCollator(lambda _e: batch, counts)(examples)

        cls.__call__ = wrapped
    mem = PeakMemory()
    timer = StepTimer(mem)
    notes: list[str] = []
    out = tempfile.mkdtemp(prefix="rl-bench-")
    cfg = TrainConfig.from_options(model=spec["backbone"], data=spec["train_file"], eval_split=0.0, batch_size=spec["batch_size"],
                      max_steps=spec["steps"], lr=spec["lr"], warmup_ratio=0.05, bf16=spec["precision"] == "bf16",
                      seed=spec["seed"], max_length=spec["max_length"], render_mode=spec["render_mode"],
                      logging_steps=1, progress=False, output=out, save_total_limit=1,
                      pack_pairs=spec.get("pack_pairs"), prefix_sharing=spec.get("prefix_sharing"))
    import logging

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            notes.append(record.getMessage())

    keep = _Keep()
    logging.getLogger("rewardlab").addHandler(keep)
    logging.getLogger("rewardlab").setLevel(logging.INFO)
    try:
        res = tr.train(cfg, callbacks=[timer.callback])
    finally:
        logging.getLogger("rewardlab").removeHandler(keep)
    lm = res.loaded
    ev_ex = _encode(lm, spec["eval_file"])
    shutil.rmtree(out, ignore_errors=True)
    layout = next((n.split(":")[1].split("(")[0].strip() for n in notes if n.startswith("pair layout")), "plain")
    return _summary(spec, timer, counts, _TRAIN_LOSSES, non_embedding_params(lm.model.hf),
                    evaluate_hf(lm.model.hf, ev_ex, lm.tokenizer.pad_token_id), mem, {"layout": layout})


_TRAIN_LOSSES: list[float] = []


def _capture_losses() -> None:
    """Record every logged training loss (both trainers log each step)."""
    from transformers import Trainer

    orig = Trainer.log

    def log(self, logs, *a, **k):
        if "loss" in logs:
            _TRAIN_LOSSES.append(float(logs["loss"]))
        return orig(self, logs, *a, **k)

    Trainer.log = log


def worker_trl(spec: dict[str, Any]) -> dict[str, Any]:
    import shutil

    from datasets import Dataset
    from trl import RewardConfig, RewardTrainer
    from trl.trainer.reward_trainer import DataCollatorForPreference

    lm = _build(spec)
    tok = lm.tokenizer
    extra = {}
    if tok.eos_token is None and tok.sep_token is not None:
        extra["eos_token"] = tok.sep_token  # BERT tokenizers: TRL needs eos_token="[SEP]"
    tr_ex = _encode(lm, spec["train_file"])
    ev_ex = _encode(lm, spec["eval_file"])
    ds = Dataset.from_list([{"chosen_ids": e["chosen_ids"], "rejected_ids": e["rejected_ids"]} for e in tr_ex])
    out = tempfile.mkdtemp(prefix="trl-bench-")
    args = RewardConfig(output_dir=out, per_device_train_batch_size=spec["batch_size"], max_steps=spec["steps"],
                        learning_rate=spec["lr"], warmup_steps=0.05, weight_decay=0.0, bf16=spec["precision"] == "bf16",
                        gradient_checkpointing=spec.get("trl_gc", False), seed=spec["seed"],
                        max_length=spec["max_length"], logging_steps=1, save_strategy="no", report_to="none",
                        disable_tqdm=True, use_cpu=True, dataloader_num_workers=0, dataloader_pin_memory=False,
                        **extra)
    counts: list[tuple[int, int, int]] = []
    collator = CountingCollator(DataCollatorForPreference(pad_token_id=tok.pad_token_id), counts)
    mem = PeakMemory()
    timer = StepTimer(mem)
    trainer = RewardTrainer(model=lm.model.hf, args=args, train_dataset=ds, processing_class=tok,
                            data_collator=collator, callbacks=[timer.callback])
    trainer.train()
    shutil.rmtree(out, ignore_errors=True)
    return _summary(spec, timer, counts, _TRAIN_LOSSES, non_embedding_params(trainer.model),
                    evaluate_hf(trainer.model, ev_ex, tok.pad_token_id), mem,
                    {"layout": "trl", "gradient_checkpointing": bool(spec.get("trl_gc", False))})


# ------------------------------------------------------------------------------------------------ parent side
def prepare(args: argparse.Namespace, workdir: str) -> dict[str, Any]:
    """Load pairs, keep those within max_length for both, split by prompt, write JSONL files for the workers."""
    from rewardlab.data import write_records
    from rewardlab.train.collate import encode_pairs
    from rewardlab.train.trainer import split_by_prompt

    path = backbone_path(args.backbone)
    data = "hh" if args.data is None and args.backbone != "minilm" else (args.data or "hh")
    pairs = load_bench_pairs(data, n_sim=args.n_sim, seed=args.seed)
    spec = {"backbone": path, "render_mode": args.render_mode, "max_length": args.max_length, "seed": args.seed,
            "batch_size": args.batch_size, "lr": args.lr, "steps": args.steps, "precision": args.precision,
            "warmup": args.warmup, "trl_gc": args.trl_gc}
    lm = _build(spec)
    ex = encode_pairs(lm.renderer, pairs)
    kept = [p for p, e in zip(pairs, ex, strict=True) if not e["truncated"]]
    train, held = split_by_prompt(kept, args.eval_frac, args.seed)
    if args.n_eval and len(held) > args.n_eval:
        held = held[: args.n_eval]
    need = args.steps * args.batch_size
    if need > len(train):
        print(f"note: {args.steps} steps x {args.batch_size} pairs is more than one epoch ({len(train)} pairs)")
    else:  # exactly one epoch of the same pairs for every system, so pairs/s compare like with like
        import random

        train = random.Random(args.seed).sample(train, need)

    def rows(ps):
        return [{"prompt": p.prompt, "chosen": p.chosen, "rejected": p.rejected} for p in ps]

    spec["train_file"] = os.path.join(workdir, "train.jsonl")
    spec["eval_file"] = os.path.join(workdir, "eval.jsonl")
    write_records(rows(train), spec["train_file"])
    write_records(rows(held), spec["eval_file"])
    tr_ex = [e for e, p in zip(ex, pairs, strict=True) if not e["truncated"]]
    mean_tokens = sum(len(e["chosen_ids"]) + len(e["rejected_ids"]) for e in tr_ex) / max(1, len(tr_ex))
    spec["_info"] = {"data": data, "n_pairs": len(pairs), "n_kept": len(kept), "n_train": len(train),
                     "n_eval": len(held), "mean_pair_tokens": mean_tokens, "render_mode": lm.renderer.spec.mode,
                     "n_params": sum(p.numel() for p in lm.model.parameters())}
    return spec


def run_worker(system: str, spec_file: str) -> dict[str, Any]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = [sys.executable, __file__, "--_worker", system, "--_spec", spec_file]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{system} worker failed:\n{proc.stderr[-4000:]}")
    return parse_result(proc.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="minilm", help="minilm | llama-small | a model folder")
    ap.add_argument("--data", default=None, help="hh (default) | sim | a pairs file")
    ap.add_argument("--n-sim", type=int, default=2400, help="simulator pairs with --data sim")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=None, help="default 5e-5 (minilm) / 1e-4 (decoders)")
    ap.add_argument("--steps", type=int, default=None, help="optimiser steps per run (default 50 minilm, 12 decoders)")
    ap.add_argument("--precision", choices=("bf16", "fp32"), default="bf16")
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--render-mode", default="auto")
    ap.add_argument("--repeats", type=int, default=2, help="A B A B ...: runs of each system")
    ap.add_argument("--warmup", type=int, default=3, help="steps left out of the timing")
    ap.add_argument("--eval-frac", type=float, default=0.2, help="held-out share of prompts")
    ap.add_argument("--n-eval", type=int, default=400, help="at most this many held-out pairs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--trl-gc", action="store_true", help="TRL with its default gradient checkpointing")
    ap.add_argument("--systems", default="rewardlab,trl", help="comma list; also rewardlab-plain, rewardlab-packed")
    ap.add_argument("--json", default=None, help="write all runs and the summary to this file")
    ap.add_argument("--_worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--_spec", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args._worker:
        spec = json.load(open(args._spec))
        _capture_losses()
        import torch

        torch.manual_seed(spec["seed"])
        if args._worker == "trl":
            emit(worker_trl(spec))
        else:
            variant = args._worker.removeprefix("rewardlab").lstrip("-")
            if variant == "plain":
                spec["pack_pairs"], spec["prefix_sharing"] = False, False
            elif variant == "packed":
                spec["pack_pairs"], spec["prefix_sharing"] = True, False
            emit(worker_rewardlab(spec))
        return

    decoder = args.backbone != "minilm"
    args.lr = args.lr or (1e-4 if decoder else 5e-5)
    args.steps = args.steps or (12 if decoder else 50)
    cmd = command_line()
    with tempfile.TemporaryDirectory(prefix="rl-train-bench-") as work:
        spec = prepare(args, work)
        info = spec.pop("_info")
        spec_file = os.path.join(work, "spec.json")
        json.dump(spec, open(spec_file, "w"))
        systems = [s.strip() for s in args.systems.split(",") if s.strip()]
        print(f"command: {cmd}")
        print(f"machine: {json.dumps(machine())}")
        print(f"data: {info}")
        print(f"settings: batch {args.batch_size} pairs, lr {args.lr}, {args.steps} steps, {args.precision}, "
              f"max_length {args.max_length}, warmup {args.warmup} steps excluded, repeats {args.repeats}")
        runs: list[dict[str, Any]] = []
        for rep in range(args.repeats):
            for system in systems:  # interleaved: A B A B ...
                t0 = time.time()
                r = run_worker(system, spec_file)
                r.update(system=system, repeat=rep)
                runs.append(r)
                print(f"  [{rep}] {system:16s} {r['pairs_per_s']:7.2f} pairs/s {r['tokens_per_s']:8.0f} tok/s "
                      f"layout {r['layout']:7s} loss {r['final_train_loss']:.4f} acc {r['accuracy']:.4f} "
                      f"peak {r['peak_rss_mib']:.0f} MiB ({time.time() - t0:.0f}s wall)", flush=True)
    peaks = json.load(open(PEAK_FILE)) if PEAK_FILE.exists() else DEFAULT_PEAK
    peak = float(peaks.get(args.precision, DEFAULT_PEAK[args.precision]))
    base = "trl" if "trl" in systems else systems[-1]
    rows, summary = [], {}
    for system in systems:
        rs = [r for r in runs if r["system"] == system]
        ratios = [a["pairs_per_s"] / b["pairs_per_s"] for a in rs for b in runs
                  if b["system"] == base and b["repeat"] == a["repeat"]]
        s = {k: median([r[k] for r in rs]) for k in ("pairs_per_s", "tokens_per_s", "computed_tokens_per_s",
                                                     "padding_share", "gflops", "final_train_loss", "accuracy",
                                                     "eval_loss", "peak_rss_mib", "train_rss_increase_mib")}
        s["ratio_vs_" + base] = median(ratios)
        s["mfu"] = s["gflops"] / peak
        s["layout"] = rs[0]["layout"]
        summary[system] = s
        rows.append([system, s["layout"], s["pairs_per_s"], s["tokens_per_s"], s["ratio_vs_" + base],
                     f"{100 * s['padding_share']:.0f}%", f"{100 * s['mfu']:.1f}%", s["peak_rss_mib"],
                     s["train_rss_increase_mib"], s["final_train_loss"], s["accuracy"], s["eval_loss"]])
    print()
    print(table(rows, ["system", "layout", "pairs/s", "tokens/s", f"x {base}", "padding", "MFU", "peak MiB",
                       "train +MiB", "final loss", "held-out acc", "held-out loss"]))
    print(f"\nmedians over {args.repeats} interleaved runs each; ratio = median over repeats of pairs/s ratios; "
          f"tokens/s counts chosen+rejected tokens of the pairs trained (same definition for all systems); "
          f"MFU = 6 x {runs[0]['n_params_non_embedding'] / 1e6:.1f}M non-embedding params x non-padding tokens "
          f"computed / s, against the measured {args.precision} matmul peak {peak:.0f} GFLOP/s.")
    print(f"command: {cmd}")
    if args.json:
        json.dump({"command": cmd, "machine": machine(), "data": info, "args": vars(args), "runs": runs,
                   "summary": summary, "peak_gflops": peak}, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
