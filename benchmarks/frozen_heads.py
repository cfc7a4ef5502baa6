"""Frozen-backbone path: cache pooled features of N pairs once, then train an ensemble of heads on them.

Times the two phases separately (feature caching is one forward pass over every distinct sequence, in
length-sorted token-budget batches; head training is Adam on [N, H] tensors) and checks the held-out accuracy of
the trained ensemble on simulator pairs from another seed.

    .venv/bin/python benchmarks/frozen_heads.py --pairs 10000 --members 8
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import backbone_path, command_line, machine, table  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="minilm")
    ap.add_argument("--pairs", type=int, default=10000)
    ap.add_argument("--eval-pairs", type=int, default=1000)
    ap.add_argument("--members", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--precision", choices=("bf16", "fp32"), default="bf16", help="of the feature pass")
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    import torch

    from rewardlab.data.formats import detect_spec, parse_pair
    from rewardlab.models import HeadSpec, build_reward_model
    from rewardlab.render import RenderSpec
    from rewardlab.simulate import simulate_pairs
    from rewardlab.train.collate import encode_pairs, pair_columns
    from rewardlab.train.frozen import example_features, predict_pairs, train_head_on_features
    from rewardlab.train.losses import get_loss
    from rewardlab.train.trainer import pair_eval_metrics

    cmd = command_line()
    print(f"command: {cmd}")
    print(f"machine: {json.dumps(machine())}")
    t0 = time.perf_counter()
    rows = simulate_pairs(args.pairs, seed=args.seed)
    ev_rows = simulate_pairs(args.eval_pairs, seed=args.seed + 10_000)
    spec = detect_spec(rows[0])
    pairs = [parse_pair(r, spec) for r in rows]
    ev_pairs = [parse_pair(r, spec) for r in ev_rows]
    t_sim = time.perf_counter() - t0
    lm = build_reward_model(backbone_path(args.backbone), HeadSpec("ensemble", args.members),
                            render=RenderSpec(max_length=args.max_length), seed=args.seed, freeze_backbone=True)
    t0 = time.perf_counter()
    ex = encode_pairs(lm.renderer, pairs)
    ev_ex = encode_pairs(lm.renderer, ev_pairs)
    t_tok = time.perf_counter() - t0
    n_tokens = sum(len(e["chosen_ids"]) + len(e["rejected_ids"]) for e in ex)
    bf16 = args.precision == "bf16"
    pad = lm.tokenizer.pad_token_id
    t0 = time.perf_counter()
    fc, fr = example_features(lm.model, ex, pad, progress=False, bf16=bf16)
    t_cache = time.perf_counter() - t0
    loss_fn = get_loss("bt")
    boot = torch.poisson(torch.ones(args.members, len(ex)), generator=torch.Generator().manual_seed(args.seed + 7))
    t0 = time.perf_counter()
    hist = train_head_on_features(lm.model, loss_fn, fc, fr, pair_columns(ex), epochs=args.epochs, lr=1e-3,
                                  batch_size=256, seed=args.seed, bootstrap=boot, progress=False)
    t_heads = time.perf_counter() - t0
    ec, er = example_features(lm.model, ev_ex, pad, progress=False, bf16=bf16)
    m = pair_eval_metrics(predict_pairs(lm.model, ec, er), np.array([e["label"] for e in ev_ex]))
    res = {"simulate_s": t_sim, "tokenise_s": t_tok, "cache_features_s": t_cache, "train_heads_s": t_heads,
           "pairs": len(ex), "tokens": n_tokens, "members": args.members, "epochs": args.epochs,
           "cache_tokens_per_s": n_tokens / t_cache, "head_pair_epochs_per_s": len(ex) * args.epochs / t_heads,
           "final_train_loss": hist[-1], "held_out_accuracy": m["accuracy"], "held_out_nll": m["nll"]}
    print(table([[f"{args.pairs} pairs x {args.members} members", t_sim, t_tok, t_cache, t_heads,
                  res["cache_tokens_per_s"], hist[-1], m["accuracy"]]],
                ["run", "simulate s", "tokenise s", "cache features s", "train heads s", "cache tok/s",
                 "final loss", "held-out acc"]))
    print(f"({args.epochs} epochs of {args.members} bootstrap heads, batch 256; features in {args.precision})")
    print(f"command: {cmd}")
    if args.json:
        json.dump({"command": cmd, "machine": machine(), "result": res}, open(args.json, "w"), indent=1)


if __name__ == "__main__":
    main()
