"""Speed of a GRPO curve against a fine-tuned MiniLM proxy (issue 25's target: 200 steps in <= 5 minutes on 2 cores),
fp32 and bf16 side by side: same proxy, same seed, same settings.

Each run is `rewardlab optimize` in its own process, exactly as a user runs it (model loading, the per-text score
cache, checkpoints, steps.jsonl, optimize.json and the plot included); the runs alternate (fp32, bf16, fp32, ...)
when --repeats > 1. Printed per run: wall time, texts scored, cache hits and what the cache saved, texts per second.
Then bf16 against fp32: the largest gaps in exact gold, KL and sampled proxy over the steps, the sweet spot and the
final step of each, and the first step where the two runs' samples differ.

The proxy is the noise-0 MiniLM-6 member of benchmarks/pessimism_fair.py (1,500 human-like pairs from four task
families, two epochs at lr 2e-4, seed 3). Without --proxy the script uses that member where an earlier run left it
(/tmp/pf/noise00/ensemble/members/03-minilm-6), else trains the same model into --cache (about 10 minutes on 2 cores).

    .venv/bin/python benchmarks/optimize_speed.py --steps 200 --out /tmp/optspeed --json /tmp/optspeed.json

bf16 is skipped on hardware without native bf16 matmuls (`rewardlab.runtime.fast_bf16`: it would be emulated,
several times slower than fp32); --precisions fp32,bf16 --force-bf16 runs it anyway.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CACHE, ROOT, command_line, machine, table  # noqa: E402

EARLIER_PROXY = Path("/tmp/pf/noise00/ensemble/members/03-minilm-6")
FAMILIES = ("arithmetic", "facts", "advice", "false_premise")  # pessimism_fair.py's training families


def train_proxy(folder: Path) -> Path:
    """pessimism_fair.py's noise-0 MiniLM-6 member, trained alone into `folder` (reused when already there)."""
    if (folder / "rewardlab.json").exists():
        return folder
    from rewardlab.data import write_records
    from rewardlab.simulate import human_like, simulate_pairs
    from rewardlab.train.config import TrainConfig
    from rewardlab.train.trainer import clean_checkpoints, train

    def config() -> Any:
        cfg = human_like()
        cfg.flip_prob = 0.0
        cfg.family_weights = {f: 1.0 for f in FAMILIES}
        return cfg

    data = folder.parent / "proxy-data"
    data.mkdir(parents=True, exist_ok=True)
    write_records(simulate_pairs(1500, seed=101, config=config()), str(data / "pairs.jsonl"))
    write_records(simulate_pairs(400, seed=202, config=config()), str(data / "eval.jsonl"))
    print(f"training the proxy into {folder} (1,500 pairs, 2 epochs)", flush=True)
    cfg = TrainConfig.from_options(output=str(folder), data=str(data / "pairs.jsonl"),
                                   eval_data=str(data / "eval.jsonl"), seed=3, lr=2e-4, epochs=2, max_length=192)
    train(cfg)
    clean_checkpoints(str(folder))
    return folder


def run_once(proxy: Path, out: Path, steps: int, seed: int, bf16: bool, threads: int | None) -> dict[str, Any]:
    """One `rewardlab optimize` run in a fresh process; its wall time and what optimize.json and steps.jsonl hold."""
    cmd = [str(ROOT / ".venv" / "bin" / "rewardlab"), "optimize", "--reward", str(proxy), "--steps", str(steps),
           "--seed", str(seed), "-o", str(out), "--overwrite"] + (["--bf16"] if bf16 else [])
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    res = json.loads((out / "optimize.json").read_text())
    records = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines() if line.strip()]
    return {"command": " ".join(cmd), "bf16": bf16, "wall_s": round(wall, 1), "loop_s": res["elapsed_s"],
            "cache": res["cache"], "records": records, "sweet_spot": res["sweet_spot"], "final": res["final"],
            "load": os.getloadavg()[0]}


def compare(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> dict[str, Any]:
    """How far run b's steps are from run a's: largest gaps and the first step whose samples differ."""
    n = min(len(a), len(b))
    gap = {k: max(abs(a[i][k] - b[i][k]) for i in range(n)) for k in ("gold", "kl", "proxy", "gold_sampled")}
    first = next((i for i in range(n) if a[i]["gold_sampled"] != b[i]["gold_sampled"]
                  or a[i]["words"] != b[i]["words"]), None)
    same = all({k: v for k, v in x.items() if k != "elapsed_s"} == {k: v for k, v in y.items() if k != "elapsed_s"}
               for x, y in zip(a[:n], b[:n], strict=True))
    return {"max_abs_diff": gap, "first_step_samples_differ": first, "identical_records": same}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--proxy", default=None, help="reward-model folder (default: the earlier pessimism_fair member, "
                    "else one trained into --cache)")
    ap.add_argument("--cache", default=str(CACHE / "optimize_speed"), help="where a proxy trained here goes")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--precisions", default="fp32,bf16", help="comma-separated: fp32, bf16")
    ap.add_argument("--force-bf16", action="store_true", help="run bf16 even where it is emulated (slow)")
    ap.add_argument("--repeats", type=int, default=1, help="runs per precision, alternating")
    ap.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS of the runs (default: torch's own)")
    ap.add_argument("--out", default="/tmp/optspeed", help="folder of the runs (one subfolder per run)")
    ap.add_argument("--json", default=None, help="write the summary here")
    args = ap.parse_args()

    from rewardlab.runtime import fast_bf16

    print(f"command: {command_line()}")
    info = machine()
    info["native_bf16"] = fast_bf16("cpu")
    print(f"machine: {json.dumps(info)}")
    proxy = Path(args.proxy) if args.proxy else (EARLIER_PROXY if (EARLIER_PROXY / "rewardlab.json").exists()
                                                 else train_proxy(Path(args.cache) / "proxy-minilm-6"))
    print(f"proxy: {proxy}")
    precisions = [p.strip() for p in args.precisions.split(",") if p.strip()]
    if "bf16" in precisions and not info["native_bf16"] and not args.force_bf16:
        print("bf16 skipped: no native bf16 matmuls here (emulated, several times slower; --force-bf16 runs it)")
        precisions = [p for p in precisions if p != "bf16"]
    out = Path(args.out)
    runs: list[dict[str, Any]] = []
    for rep in range(args.repeats):
        for prec in precisions:
            r = run_once(proxy, out / f"{prec}-{rep}", args.steps, args.seed, prec == "bf16", args.threads)
            r["precision"], r["repeat"] = prec, rep
            c = r["cache"]
            print(f"{prec} #{rep}: {r['wall_s']:.1f} s wall ({r['loop_s']:.1f} s in the loop), "
                  f"{c['misses']} texts scored, {c['hits']} cache hits ({c['hit_rate']:.1%} saved), "
                  f"{c['misses'] / r['loop_s']:.1f} texts/s, load {r['load']:.2f}", flush=True)
            runs.append(r)
    rows = [[r["precision"], r["repeat"], r["wall_s"], r["cache"]["misses"], r["cache"]["hits"],
             f"{r['cache']['hit_rate']:.1%}", round(r["cache"]["misses"] / r["loop_s"], 1),
             f"{r['sweet_spot']['step']} ({r['sweet_spot']['gold']:.3f})", f"{r['final']['gold']:.3f}"]
            for r in runs]
    print()
    print(table(rows, ["precision", "repeat", "wall s", "texts scored", "cache hits", "cache saved", "texts/s",
                       "sweet spot (gold)", "final gold"]))
    summary: dict[str, Any] = {"command": command_line(), "machine": info, "proxy": str(proxy), "steps": args.steps,
                               "seed": args.seed, "runs": [{k: v for k, v in r.items() if k != "records"}
                                                           for r in runs]}
    by = {p: [r for r in runs if r["precision"] == p] for p in precisions}
    if len(by.get("fp32", [])) > 1:
        summary["fp32_repeat_vs_first"] = compare(by["fp32"][0]["records"], by["fp32"][1]["records"])
        print(f"fp32 repeat vs first: identical records {summary['fp32_repeat_vs_first']['identical_records']}")
    if by.get("fp32") and by.get("bf16"):
        cmp = compare(by["fp32"][0]["records"], by["bf16"][0]["records"])
        summary["bf16_vs_fp32"] = cmp
        g = cmp["max_abs_diff"]
        print(f"bf16 vs fp32: largest gaps over the steps: gold {g['gold']:.4f}, KL {g['kl']:.4f}, sampled proxy "
              f"{g['proxy']:.4f}; samples first differ at step {cmp['first_step_samples_differ']}")
        fw = [r["wall_s"] for r in by["fp32"]]
        bw = [r["wall_s"] for r in by["bf16"]]
        print(f"wall time: fp32 {min(fw):.1f} s, bf16 {min(bw):.1f} s (best of {len(fw)}); "
              f"bf16 is {min(fw) / min(bw):.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
