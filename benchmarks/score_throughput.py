"""Scoring throughput: N responses per prompt, rewardlab's ModelScorer vs a plain right-padded batch.

The baseline is what TRL's GRPO does with a model reward and what RewardBench does: render prompt + response,
right-pad fixed-size batches in input order (the N responses of a prompt together) to the batch's longest
member, one forward of the HF sequence classifier. rewardlab's `ModelScorer` (the `rewardlab score` path) groups
responses by prompt, runs each prompt once with a key/value cache reused by its N continuations (causal decoders),
and batches longest first under a token budget. Both include rendering and tokenisation. Every run's scores are
compared with the baseline's (max |difference|). Runs are interleaved A B C A B C ... in one process.

Workload (default): distinct prompts of the HH-RLHF file, each with N responses drawn from the file's responses
(its own chosen and rejected among them); --data sim uses simulator prompts and responses instead.

    .venv/bin/python benchmarks/score_throughput.py --n 16
    .venv/bin/python benchmarks/score_throughput.py --n 4,16 --backbone llama-small
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CACHE, backbone_path, command_line, load_bench_pairs, machine, median, table  # noqa: E402

DEFAULT_PEAK = {"fp32": 325.0, "bf16": 2100.0}


def workload(data: str, n_prompts: int, n: int, seed: int) -> tuple[list[Any], list[Any]]:
    """n_prompts distinct prompts x n responses each (prompt-major order, as a GRPO group)."""
    pairs = load_bench_pairs(data, n_sim=max(400, 4 * n_prompts), seed=seed)
    rng = random.Random(seed)
    pool = [p.chosen for p in pairs] + [p.rejected for p in pairs]
    seen, picked = set(), []
    for p in rng.sample(pairs, len(pairs)):
        key = json.dumps(p.prompt)
        if key not in seen:
            seen.add(key)
            picked.append(p)
        if len(picked) == n_prompts:
            break
    prompts, responses = [], []
    for p in picked:
        rs = [p.chosen, p.rejected] + rng.sample(pool, n - 2) if n >= 2 else [p.chosen]
        rng.shuffle(rs)
        prompts += [p.prompt] * n
        responses += rs[:n]
    return prompts, responses


@torch.inference_mode()
def baseline_scores(lm: Any, prompts: list[Any], responses: list[Any], batch: int, bf16: bool) -> np.ndarray:
    """Plain right-padded batches of prompt + response in input order through the HF model."""
    from rewardlab.batching import pad_batch

    enc = lm.renderer.encode(prompts, responses)
    hf = lm.model.hf.eval()
    out = np.zeros(len(enc))
    for s in range(0, len(enc), batch):
        chunk = enc[s : s + batch]
        types = [e["token_type_ids"] for e in chunk] if "token_type_ids" in chunk[0] else None
        b = pad_batch([e["input_ids"] for e in chunk], lm.tokenizer.pad_token_id, types)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out[s : s + len(chunk)] = hf(**b).logits[:, 0].float().numpy()
    return out


def computed_tokens(lm: Any, prompts: list[Any], responses: list[Any], system: str, batch: int) -> tuple[int, int]:
    """(non-padding tokens computed, padded tokens computed) by a system on this workload."""
    from rewardlab.batching import length_batches
    from rewardlab.scoring.prefix import plan_batches, prefix_groups

    enc = lm.renderer.encode(prompts, responses)
    lens = [len(e["input_ids"]) for e in enc]
    if system == "baseline":
        padded = sum(max(lens[s : s + batch]) * len(lens[s : s + batch]) for s in range(0, len(lens), batch))
        return sum(lens), padded
    sc = SCORERS[system](lm)
    plain = list(range(len(enc)))
    real = padded = 0
    if sc.prefix_sharing:
        groups, plain = prefix_groups(enc)
        owner = {i: g for g, (_, idx) in enumerate(groups) for i in idx}
        for gs, chunks in plan_batches(groups, enc, sc.token_budget, sc.max_batch):
            ps = [len(groups[g][0]) for g in gs]
            real += sum(ps)
            padded += len(ps) * max(ps)
            for chunk in chunks:
                cs = [lens[i] - len(groups[owner[i]][0]) for i in chunk]
                real += sum(cs)
                padded += len(cs) * max(cs)
    for b in length_batches([lens[i] for i in plain], sc.token_budget, sc.max_batch):
        ls = [lens[plain[j]] for j in b]
        real += sum(ls)
        padded += len(ls) * max(ls)
    return real, padded


def _scorer(prefix: bool | None, budget: int, bf16: bool):
    from rewardlab.scoring import ModelScorer

    return lambda lm: ModelScorer(lm, token_budget=budget, bf16=bf16, prefix_sharing=prefix, name="rewardlab")


SCORERS: dict[str, Any] = {}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="llama-small", help="llama-small | minilm | a model folder")
    ap.add_argument("--n", default="16", help="responses per prompt; a comma list runs each")
    ap.add_argument("--prompts", type=int, default=8, help="distinct prompts")
    ap.add_argument("--data", default="hh", help="hh | sim | a pairs file")
    ap.add_argument("--baseline-batch", type=int, default=16, help="rows per right-padded baseline batch")
    ap.add_argument("--token-budget", type=int, default=16384, help="rewardlab's padded tokens per batch")
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    from rewardlab.models import build_reward_model
    from rewardlab.render import RenderSpec

    bf16 = args.precision == "bf16"
    SCORERS["rewardlab"] = _scorer(None, args.token_budget, bf16)
    SCORERS["rewardlab-noprefix"] = _scorer(False, args.token_budget, bf16)
    lm = build_reward_model(backbone_path(args.backbone), render=RenderSpec(max_length=args.max_length),
                            seed=args.seed)
    lm.model.eval()
    n_params = sum(p.numel() for n, p in lm.model.named_parameters() if "embed" not in n)
    peaks = json.loads((CACHE / "matmul_peak.json").read_text()) if (CACHE / "matmul_peak.json").exists() \
        else DEFAULT_PEAK
    peak = float(peaks.get(args.precision, DEFAULT_PEAK[args.precision]))
    cmd = command_line()
    print(f"command: {cmd}")
    print(f"machine: {json.dumps(machine())}")
    print(f"model: {args.backbone} ({sum(p.numel() for p in lm.model.parameters()) / 1e6:.1f}M parameters, "
          f"{n_params / 1e6:.1f}M non-embedding), render {lm.renderer.spec.mode}, {args.precision}")
    systems = ["baseline", "rewardlab", "rewardlab-noprefix"]
    report: dict[str, Any] = {"command": cmd, "machine": machine(), "args": vars(args), "results": {}}
    for n in [int(x) for x in args.n.split(",")]:
        prompts, responses = workload(args.data, args.prompts, n, args.seed)
        enc = lm.renderer.encode(prompts, responses)
        seq_tokens = sum(len(e["input_ids"]) for e in enc)
        p_lens = [e["prompt_len"] for e in enc]
        print(f"\nN={n}: {len(prompts)} responses to {args.prompts} prompts, {seq_tokens} sequence tokens "
              f"(prompt mean {np.mean(p_lens):.0f}, response mean {np.mean([len(e['input_ids']) for e in enc]) - np.mean(p_lens):.0f} tokens)")
        times: dict[str, list[float]] = {s: [] for s in systems}
        scores: dict[str, np.ndarray] = {}
        for rep in range(args.repeats):
            for s in systems:  # interleaved
                t0 = time.perf_counter()
                if s == "baseline":
                    out = baseline_scores(lm, prompts, responses, args.baseline_batch, bf16)
                else:
                    out = SCORERS[s](lm).score(prompts, responses, progress=False).mean
                times[s].append(time.perf_counter() - t0)
                scores[s] = out
                print(f"  [{rep}] {s:18s} {len(prompts) / times[s][-1]:8.2f} responses/s", flush=True)
        rows, res = [], {}
        for s in systems:
            real, padded = computed_tokens(lm, prompts, responses, s, args.baseline_batch)
            t = median(times[s])
            ratios = [b / a for a, b in zip(times[s], times["baseline"], strict=True)]
            r = {"responses_per_s": len(prompts) / t, "tokens_per_s": seq_tokens / t, "speedup": median(ratios),
                 "max_abs_diff": float(np.abs(scores[s] - scores["baseline"]).max()),
                 "computed_tokens": real, "padded_tokens": padded, "mfu": 2 * n_params * real / t / 1e9 / peak,
                 "seconds": t}
            res[s] = r
            rows.append([s, r["responses_per_s"], r["tokens_per_s"], r["speedup"], real, padded,
                         f"{100 * r['mfu']:.1f}%", f"{r['max_abs_diff']:.1e}"])
        print(table(rows, ["system", "responses/s", "seq tokens/s", "x baseline", "tokens run", "incl. padding",
                           "MFU", "max |diff|"]))
        report["results"][str(n)] = res
    print(f"\nmedians over {args.repeats} interleaved runs; speedup = median over repeats of time ratios; "
          f"seq tokens/s counts prompt + response tokens of every item (same for all systems); "
          f"MFU = 2 x non-embedding params x non-padding tokens run / s against the {args.precision} matmul peak "
          f"{peak:.0f} GFLOP/s.")
    print(f"command: {cmd}")
    if args.json:
        json.dump(report, open(args.json, "w"), indent=1)
    tol = 1e-4 if not bf16 else 5e-2
    worst = max(r["max_abs_diff"] for res in report["results"].values() for r in res.values())
    if worst > tol:
        sys.exit(f"FAIL: scores differ from the baseline by {worst:.2e} > {tol:g}")
    print(f"scores identical to the baseline within {tol:g} (max |diff| {worst:.1e})")


if __name__ == "__main__":
    main()
