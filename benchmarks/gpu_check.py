"""GPU check: every model path runs on the accelerator and gives the CPU's rewards.

What it does, on the first CUDA device (or --device):
1. trains a few steps on the device: a Llama-shaped decoder (full fine-tuning, prefix-shared pairs) and MiniLM
   with a frozen backbone (cached features + head training on the device);
2. scores the same best-of-N items with and without prefix sharing on the device;
3. scores them on the CPU and on the device in fp32 and compares (tolerance 1e-3), for the trained decoder, MiniLM
   and a Gaussian-head decoder; bf16 autocast on the device is reported beside it (not judged);
4. times scoring on the device (responses/s) with and without prefix sharing.
It prints one verdict line, `gpu_check: PASS ...` or `gpu_check: FAIL ...`, and exits 1 on FAIL. Without a GPU
it runs everything on the CPU against itself and says so in the verdict (useful as a smoke test only).

    .venv/bin/python benchmarks/gpu_check.py
    .venv/bin/python benchmarks/gpu_check.py --device cuda:0 --n 16 --prompts 64 --json out/gpu_check.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import backbone_path, command_line, machine  # noqa: E402

TOL = 1e-3


def items(n_prompts: int, n: int, seed: int) -> tuple[list[Any], list[Any]]:
    """Simulator prompts, each with n of the simulator's responses (its own chosen and rejected among them)."""
    from rewardlab.data.formats import detect_spec, parse_pair
    from rewardlab.simulate import simulate_pairs

    rows = simulate_pairs(max(4 * n_prompts, 200), seed=seed)
    spec = detect_spec(rows[0])
    pairs = [parse_pair(r, spec) for r in rows][:n_prompts]
    pool = [p.chosen for p in pairs] + [p.rejected for p in pairs]
    rng = np.random.default_rng(seed)
    prompts, responses = [], []
    for p in pairs:
        extra = [pool[int(i)] for i in rng.integers(0, len(pool), max(0, n - 2))]
        prompts += [p.prompt] * n
        responses += ([p.chosen, p.rejected] + extra)[:n]
    return prompts, responses


def score(path: str, device: str, prompts: list[Any], responses: list[Any], **kw: Any) -> tuple[np.ndarray, float]:
    """Mean rewards and seconds (after one warm-up call) of a fresh ModelScorer on `device`."""
    from rewardlab.scoring import ModelScorer

    scorer = ModelScorer.from_path(path, device=device, **kw)
    scorer.score(prompts[:8], responses[:8], progress=False)
    if scorer.device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    out = scorer.score(prompts, responses, progress=False)
    if scorer.device.type == "cuda":
        torch.cuda.synchronize()
    return out.mean, time.perf_counter() - t


def train_steps(backbone: str, out: str, device: str, **kw: Any) -> dict[str, Any]:
    from rewardlab.train.config import TrainConfig
    from rewardlab.train.trainer import train

    cfg = TrainConfig.from_options(model=backbone, output=out, device=device, sim_n=96, sim_eval_n=32, max_steps=6,
                      batch_size=8, max_length=128, logging_steps=2, progress=False, **kw)
    t = time.perf_counter()
    res = train(cfg)
    return {"seconds": round(time.perf_counter() - t, 1), "accuracy": res.metrics.get("accuracy"),
            "finite": all(np.isfinite(v) for v in res.metrics.values())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--n", type=int, default=16, help="responses per prompt")
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--backbone", default="llama-small", help="decoder for training and scoring")
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args()
    dev = torch.device(args.device)
    on_gpu = dev.type != "cpu"
    report: dict[str, Any] = {"command": command_line(), "machine": machine(), "device": str(dev)}
    if dev.type == "cuda":
        report["gpu"] = torch.cuda.get_device_name(dev)
    problems: list[str] = []
    prompts, responses = items(args.prompts, args.n, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        dec = backbone_path(args.backbone)
        rm_dec = f"{tmp}/decoder"
        report["train_decoder"] = train_steps(dec, rm_dec, args.device)
        rm_gauss = f"{tmp}/gaussian"
        report["train_gaussian"] = train_steps(dec, rm_gauss, args.device, head="gaussian", loss="gaussian")
        rm_frozen = f"{tmp}/minilm-frozen"
        report["train_minilm_frozen"] = train_steps("minilm", rm_frozen, args.device, freeze_backbone=True,
                                                    head_epochs=3)
        for name, r in report.items():
            if name.startswith("train_") and not r["finite"]:
                problems.append(f"{name}: non-finite metrics")

        shared, t_shared = score(rm_dec, args.device, prompts, responses, prefix_sharing=True)
        plain, t_plain = score(rm_dec, args.device, prompts, responses, prefix_sharing=False)
        d = float(np.abs(shared - plain).max())
        report["prefix_vs_plain"] = {"max_abs_diff": d, "responses_per_s_shared": len(prompts) / t_shared,
                                     "responses_per_s_plain": len(prompts) / t_plain,
                                     "speedup": t_plain / t_shared}
        if d > TOL:
            problems.append(f"prefix sharing vs plain on {dev}: {d:.2e} > {TOL}")

        report["cpu_vs_device_fp32"] = {}
        for name, path in (("decoder", rm_dec), ("gaussian", rm_gauss), ("minilm_frozen", rm_frozen)):
            on_dev, _ = score(path, args.device, prompts, responses)
            on_cpu, _ = score(path, "cpu", prompts, responses)
            bf, _ = score(path, args.device, prompts, responses, bf16=True)
            diff = float(np.abs(on_dev - on_cpu).max())
            report["cpu_vs_device_fp32"][name] = {"max_abs_diff": diff, "bf16_max_abs_diff": float(np.abs(bf - on_cpu).max()),
                                                  "reward_std": float(on_cpu.std())}
            if diff > TOL:
                problems.append(f"{name}: cpu vs {dev} fp32 {diff:.2e} > {TOL}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps(report, indent=2, default=str))
    pv = report["prefix_vs_plain"]
    worst = max(v["max_abs_diff"] for v in report["cpu_vs_device_fp32"].values())
    facts = (f"device {dev}{' (' + report['gpu'] + ')' if 'gpu' in report else ''}; 3 training runs ok; "
             f"prefix vs plain {pv['max_abs_diff']:.1e} ({pv['speedup']:.2f}x, {pv['responses_per_s_shared']:.0f} "
             f"responses/s); cpu vs device fp32 max {worst:.1e} (tolerance {TOL})")
    if not on_gpu:
        facts += "; NO GPU: cpu compared with itself, smoke test only"
    if problems:
        print("gpu_check: FAIL " + facts + " | " + "; ".join(problems))
        return 1
    print("gpu_check: PASS " + facts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
