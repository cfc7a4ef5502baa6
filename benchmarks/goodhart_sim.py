"""Goodhart on the simulator: does pessimism keep best-of-n from overoptimising a MiniLM proxy?

The setting of issue 13 (Gao et al. / Coste et al.): proxies learn from annotators with human-like biases (longer,
agreeing, markdown answers win) and 25% label flips; best-of-n then picks from simulator pools of 1,024 candidates
per prompt whose hackable attributes vary independently of the gold utility, which scores the picks.

Proxies, all on the same frozen MiniLM features (computed once; heads train in seconds, as `rewardlab train
--freeze-backbone` does):
- single: one scalar Bradley-Terry head (selection: mean);
- ensemble: 5 scalar heads, each on its own Poisson(1) bootstrap resample (selection: mean, min, uwo:lambda);
- gaussian: a Gaussian head trained with the Gaussian BT loss (selection: mean, quantile:q).

For every (proxy, rule) the exact best-of-n gold over each pool (tie-aware, n = 1..1,024) gives per-prompt curves;
95% CIs and standard errors are over prompts (paired bootstrap: every rule is resampled on the same prompts).
Targets (issue 13): the single proxy's gold peaks and then falls while its proxy score keeps rising; each
pessimistic rule falls no more than one standard error from its own peak up to n = 1,024, and its gold gain over
n = 1 at n = 1,024 is at least 1.5x the single proxy's.

The same setting from the command line (slower: each command encodes its own texts):
    rewardlab data simulate --kind pairs -n 3000 --preset human_like --flip-prob 0.25 --seed 11 -o g/pairs.jsonl
    rewardlab train --data g/pairs.jsonl --freeze-backbone -o g/single
    rewardlab train --data g/pairs.jsonl --freeze-backbone --head ensemble --members 5 --bootstrap -o g/ens
    rewardlab train --data g/pairs.jsonl --freeze-backbone --head gaussian --loss gaussian -o g/gauss
    rewardlab data simulate --kind pools -n 20 -k 1024 --preset human_like --seed 12 -o g/pools.jsonl
    rewardlab goodhart --data g/pools.jsonl --proxy g/single --proxy g/ens --proxy g/gauss --gold scores \\
        --select mean --select min --select uwo:1 --select quantile:0.1 -o g/gh

    .venv/bin/python benchmarks/goodhart_sim.py --prompts 20 --cache /tmp/goodhart_sim
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_run_args, backbone_path, command_line, start_run, table  # noqa: E402


def _text_keys(prompts, responses) -> list[str]:
    return [hashlib.sha1(f"{p}\x00{r}".encode()).hexdigest() for p, r in zip(prompts, responses, strict=True)]


def features(lm, prompts, responses, cache: Path | None, name: str):
    """Pooled MiniLM features of (prompt, response) rows, each distinct row run once. With a cache folder, the
    features of every text ever encoded are kept in NAME.npz, keyed by a hash of (prompt, response), so a rerun
    with other labels or another order of the same texts skips the encoder."""
    import torch

    from rewardlab.train.frozen import pooled_features

    keys = _text_keys(prompts, responses)
    path = cache / f"{name}.npz" if cache else None
    store: dict[str, np.ndarray] = {}
    if path and path.exists():
        z = np.load(path)
        store = dict(zip(z["keys"].tolist(), z["feats"], strict=True))
    todo = sorted({k: i for i, k in enumerate(keys) if k not in store}.values())
    if todo:
        enc = lm.renderer.encode([prompts[i] for i in todo], [responses[i] for i in todo])
        t0 = time.perf_counter()
        f = pooled_features(lm.model, [e["input_ids"] for e in enc],
                            [e["token_type_ids"] for e in enc] if "token_type_ids" in enc[0] else None,
                            lm.tokenizer.pad_token_id, progress=True, desc=f"features of {len(todo)} {name} texts")
        print(f"{name}: {len(todo):,} distinct texts encoded in {time.perf_counter() - t0:.0f} s", flush=True)
        store.update({keys[i]: f[j].numpy() for j, i in enumerate(todo)})
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(path, keys=np.array(list(store)), feats=np.stack(list(store.values())))
    return torch.from_numpy(np.stack([store[k] for k in keys]))


def train_head(kind: str, fc, fr, cols, args):
    """A head of `kind` on cached features; returns the reward model (backbone shared, head trained)."""
    import torch

    from rewardlab.models import HeadSpec, build_reward_model
    from rewardlab.train.frozen import train_head_on_features
    from rewardlab.train.losses import get_loss

    spec = {"single": HeadSpec("scalar"), "ensemble": HeadSpec("ensemble", args.members),
            "gaussian": HeadSpec("gaussian")}[kind]
    lm = build_reward_model(backbone_path("minilm"), spec, seed=args.seed, freeze_backbone=True)
    boot = None
    if kind == "ensemble":
        boot = torch.poisson(torch.ones(args.members, fc.shape[0]), generator=torch.Generator().manual_seed(7))
    loss = get_loss("gaussian" if kind == "gaussian" else "bt")
    train_head_on_features(lm.model, loss, fc, fr, cols, epochs=args.epochs, lr=1e-3, batch_size=256,
                           seed=args.seed, bootstrap=boot, progress=False)
    return lm.model


def head_scores(rm, feats, p: int, m: int):
    """mean [P, m], std [P, m] or None, members [P, m, K] or None from pooled features."""
    import torch

    with torch.no_grad():
        out = rm.split(rm.head_logits(feats))
    mean = out["mean"].numpy().reshape(p, m)
    std = out["var"].sqrt().numpy().reshape(p, m) if "var" in out else None
    members = out["members"].numpy().reshape(p, m, -1) if rm.head_spec.n_members > 1 else None
    return mean, std, members


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=3000, help="training pairs")
    ap.add_argument("--prompts", type=int, default=20, help="pool prompts")
    ap.add_argument("--candidates", type=int, default=1024)
    ap.add_argument("--flip-prob", type=float, default=0.25)
    ap.add_argument("--preset", choices=("human_like", "neutral"), default="human_like",
                    help="annotators of the training pairs: human-like biases, or none (label flips only)")
    ap.add_argument("--members", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--uwo", default="0.5,1,2,10", help="UWO lambdas")
    ap.add_argument("--quantile", default="0.1,0.25", help="Gaussian quantiles")
    add_run_args(ap)
    args = ap.parse_args()


    from rewardlab.data.formats import detect_spec, parse_pair
    from rewardlab.models import HeadSpec, build_reward_model
    from rewardlab.optimize import bon_expected, log2_n_grid, pessimistic_scores
    from rewardlab.simulate import human_like, neutral, simulate_pairs, simulate_pools
    from rewardlab.train.collate import encode_pairs, pair_columns

    cache = start_run(args)
    cfg = human_like() if args.preset == "human_like" else neutral()
    cfg.flip_prob = args.flip_prob
    rows = simulate_pairs(args.pairs, seed=11, config=cfg)
    spec = detect_spec(rows[0])
    pairs = [parse_pair(r, spec) for r in rows]
    pools = simulate_pools(args.prompts, k=args.candidates, seed=12, config=human_like())
    gold = np.array([p["scores"] for p in pools], dtype=float)
    p, m = gold.shape
    base = build_reward_model(backbone_path("minilm"), HeadSpec("scalar"), seed=args.seed, freeze_backbone=True)
    ex = encode_pairs(base.renderer, pairs)
    t0 = time.perf_counter()
    f_pairs = features(base, [x.prompt for x in pairs] * 2, [x.chosen for x in pairs] + [x.rejected for x in pairs],
                       cache, "pairs")
    fc, fr = f_pairs[: len(pairs)], f_pairs[len(pairs):]
    f_pool = features(base, [q["prompt"] for q in pools for _ in q["responses"]],
                      [r for q in pools for r in q["responses"]], cache, "pools")
    t_feat = time.perf_counter() - t0
    cols = pair_columns(ex)

    t0 = time.perf_counter()
    proxies = {kind: train_head(kind, fc, fr, cols, args) for kind in ("single", "ensemble", "gaussian")}
    t_heads = time.perf_counter() - t0
    rules = {"single": ["mean"],
             "ensemble": ["mean", "min"] + [f"uwo:{x}" for x in args.uwo.split(",")],
             "gaussian": ["mean"] + [f"quantile:{x}" for x in args.quantile.split(",")]}
    ns = log2_n_grid(m)
    per_prompt: dict[str, np.ndarray] = {}   # gold of best-of-n per prompt [P, len(ns)]
    proxy_curve: dict[str, np.ndarray] = {}  # the rule's own score of the pick, mean over prompts
    scored = {}
    for kind, rm in proxies.items():
        mean, std, members = head_scores(rm, f_pool, p, m)
        scored[kind] = (mean, std, members)
        for rule in rules[kind]:
            s = pessimistic_scores(rule, mean, std=std, members=members)
            per_prompt[f"{kind} [{rule}]"] = bon_expected(s, gold, ns)
            proxy_curve[f"{kind} [{rule}]"] = bon_expected(s, mean, ns).mean(0)

    # what the proxies pick at the largest n: the attributes of each prompt's top candidate vs the pool's average
    attr_names = list(pools[0]["attrs"][0])
    attrs = np.array([[[float(a[k]) for k in attr_names] for a in q["attrs"]] for q in pools])  # [P, m, A]
    picks = {"pool average": attrs.mean(axis=(0, 1)), "gold argmax": attrs[np.arange(p), gold.argmax(1)].mean(0)}
    for kind, rule in (("single", "mean"), ("ensemble", "min"), ("gaussian", "quantile:0.1")):
        mean, std, members = scored[kind]
        s = pessimistic_scores(rule, mean, std=std, members=members)
        picks[f"{kind} [{rule}] at n={m}"] = attrs[np.arange(p), s.argmax(1)].mean(0)
    print(f"\nattributes of the pick at n = {m} (share or mean count over prompts):")
    print(table([[name, *(f"{x:.2f}" for x in v)] for name, v in picks.items()], ["", *attr_names]))

    rng = np.random.default_rng(args.seed)
    boot = rng.integers(0, p, size=(args.resamples, p))
    ref = "single [mean]"

    def ci(x: np.ndarray) -> list[float]:
        return [float(np.quantile(x, 0.025)), float(np.quantile(x, 0.975))]

    results = {}
    for name, g in per_prompt.items():
        curve = g.mean(0)
        se = g.std(0, ddof=1) / np.sqrt(p)
        k = int(np.argmax(curve))
        fall = g[:, k] - g[:, -1]
        gain = g[:, -1] - g[:, 0]
        ref_gain = per_prompt[ref][:, -1] - per_prompt[ref][:, 0]
        ratio_boot = gain[boot].mean(1) / ref_gain[boot].mean(1)
        results[name] = {
            "n_star": int(ns[k]), "gold_at_peak": float(curve[k]), "gold_at_peak_ci": ci(g[boot][:, :, k].mean(1)),
            "gold_n1": float(curve[0]), "gold_at_max_n": float(curve[-1]), "gold_at_max_n_ci": ci(g[boot][:, :, -1]
                                                                                                 .mean(1)),
            "fall_from_peak": float(fall.mean()), "fall_ci": ci(fall[boot].mean(1)), "se_at_peak": float(se[k]),
            "fall_in_se": float(fall.mean() / se[k]) if se[k] > 0 else 0.0,
            "gain_at_max_n": float(gain.mean()), "gain_ci": ci(gain[boot].mean(1)),
            "gain_vs_single": float(gain.mean() / ref_gain.mean()), "gain_vs_single_ci": ci(ratio_boot),
            "proxy_rises": bool(np.all(np.diff(proxy_curve[name]) >= -1e-9)),
            "curve": {"n": ns.tolist(), "gold": curve.tolist(), "se": se.tolist(),
                      "proxy_mean": proxy_curve[name].tolist()},
        }
    print(f"\n{p} prompts x {m} candidates; proxies trained on {args.pairs} pairs ({args.preset} annotators, flip "
          f"{args.flip_prob}); features {t_feat:.0f} s, heads {t_heads:.1f} s; 95% CIs over prompts "
          f"({args.resamples} resamples)\n")
    head = ["proxy [rule]", "n*", "gold at n*", f"gold at n={m}", "fall (SE)", f"gain n=1->{m}", "gain / single"]
    body = []
    for name, r in results.items():
        body.append([name, r["n_star"], f"{r['gold_at_peak']:.3f} [{r['gold_at_peak_ci'][0]:.3f}, "
                     f"{r['gold_at_peak_ci'][1]:.3f}]",
                     f"{r['gold_at_max_n']:.3f} [{r['gold_at_max_n_ci'][0]:.3f}, {r['gold_at_max_n_ci'][1]:.3f}]",
                     f"{r['fall_from_peak']:.3f} ({r['fall_in_se']:.1f})",
                     f"{r['gain_at_max_n']:+.3f} [{r['gain_ci'][0]:+.3f}, {r['gain_ci'][1]:+.3f}]",
                     f"{r['gain_vs_single']:.2f} [{r['gain_vs_single_ci'][0]:.2f}, {r['gain_vs_single_ci'][1]:.2f}]"])
    print(table(body, head))
    single = results[ref]
    print(f"\nsingle proxy: gold peaks at n* = {single['n_star']} and falls by {single['fall_from_peak']:.3f} "
          f"[{single['fall_ci'][0]:.3f}, {single['fall_ci'][1]:.3f}] by n = {m}; its proxy score "
          f"{'keeps rising' if single['proxy_rises'] else 'does not rise monotonically'}")
    ref_gain = single["gain_at_max_n"]
    for name, r in results.items():
        if name.startswith("single") or "[mean]" in name:
            continue
        ok_fall = r["fall_in_se"] <= 1.0
        if ref_gain > 0:  # the ratio target only means something when the single proxy gains at all
            ok_gain = r["gain_vs_single"] >= 1.5
            gain_text = f"gain {r['gain_vs_single']:.2f}x single's ({'met' if ok_gain else 'MISSED'}: >= 1.5x)"
        else:
            ok_gain = r["gain_at_max_n"] > 0
            gain_text = (f"gain {r['gain_at_max_n']:+.3f} where single's is {ref_gain:+.3f} (ratio undefined; "
                         f"{'positive: met' if ok_gain else 'not positive: MISSED'})")
        r["targets_met"] = {"fall_within_1_se": ok_fall, "gain": ok_gain}
        print(f"  {name}: fall {r['fall_in_se']:.1f} SE from its peak ({'met' if ok_fall else 'MISSED'}: <= 1); "
              f"{gain_text}")
    out = {"command": command_line(), "settings": vars(args), "features_s": t_feat, "heads_s": t_heads,
           "results": results, "picks": {k: dict(zip(attr_names, map(float, v), strict=True))
                                         for k, v in picks.items()}}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
