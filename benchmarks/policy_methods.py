"""Robust and best-of-N-aware policy optimisation on the simulator, with CIs over seeds and controls.

Parts (`--parts`, comma-separated; each writes its section of the JSON):
- drro: GRPO vs DRRO vs standard DRO (eps in --eps, a multiple of each group's reward std) against each proxy in
  --proxies: final gold, peak gold, gold at the proxy's best step (the step of the highest 5-step moving average of
  the proxy, what a practitioner without gold would keep), final exact win rate against the base and final KL;
  mean and 95% t-interval over seeds, and each method's paired difference to GRPO (same seeds, t-interval).
- tea: GRPO (at each of --grpo-lrs) vs TEA advantages (--advantage tea --bon-n 64, groups of 8, so N >> m and the
  tail is extrapolated) at each learning rate in --tea-lrs (TEA's advantages are h_N(r) - mean h_N, not divided by
  a std: at N = 64 and m = 8 they are ~1e-3, so its learning rates are far larger; the final KL shows how far each
  run moved): the best-of-64 gold of the final policy (the gold of the proxy's pick among 64
  samples, averaged over --bon-prompts held-out prompts; the quantity TEA optimises) and its plain expected gold.
- controls: that the harness detects differences of this size: gold as the reward vs the proxy (positive), KL
  beta 0.5 vs 0 (positive, the README's KL result), and GRPO vs itself on other seeds (an A/A negative control:
  the paired difference's interval should cover 0).
- mitigations: against a bag-of-words reward model (bow:human_like): the plain run, iterative RM updates
  (--rm-update-every), two ensembles of three bag-of-words models (mean, min, uwo:1) - "diverse" (trained on labels
  of annotators with different biases, so they disagree where the biases act) and "resampled" (one annotator, three
  data seeds: the negative control) -, a KL penalty, and gold itself; final gold, the share of the gap to gold each
  closes, and for each ensemble the Spearman correlation between member spread and |proxy error| on the base
  policy's samples and on the plain run's final policy's.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/policy_methods.py --json /tmp/policy_methods.json
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import command_line, table  # noqa: E402
from rewardlab.policy.compare import t_interval  # noqa: E402
from rewardlab.policy.loop import OptimizeSpec, _draw, run  # noqa: E402
from rewardlab.policy.rewards import Rewarder  # noqa: E402
from rewardlab.policy.simpolicy import SimPolicy  # noqa: E402
from rewardlab.simulate.config import SimConfig  # noqa: E402
from rewardlab.simulate.families import FAMILY_IMPLS  # noqa: E402
from rewardlab.simulate.generate import _family_picker, make_rng  # noqa: E402
from rewardlab.simulate.responses import gold_utility  # noqa: E402


def one_run(tmp: Path, **kw: Any) -> dict[str, Any]:
    """Run the loop and return the numbers the tables use."""
    name = "-".join(f"{k}={v}" for k, v in sorted(kw.items()) if k != "reward").replace("/", "_").replace(";", "+")
    out = tmp / f"{abs(hash((kw.get('reward'), name))) % 10**8}"
    res = run(OptimizeSpec(output=str(out), plot=False, overwrite=True, **kw))
    recs = res.records
    proxy = np.array([r["proxy"] for r in recs])
    smooth = np.convolve(proxy, np.ones(5) / 5, mode="same")
    at = int(np.argmax(smooth[2:-2])) + 2 if len(proxy) > 5 else int(np.argmax(proxy))
    return {"final_gold": res.final["gold"], "peak_gold": res.sweet_spot["gold"], "peak_step": res.sweet_spot["step"],
            "gold_at_proxy_best": recs[at]["gold"], "proxy_best_step": at, "final_win": res.final["win_rate"],
            "final_kl": res.final["kl"], "final_words": res.final["words"], "elapsed_s": res.elapsed_s,
            "rm_updates": res.rm_updates, "policy": res.policy}


def summarise(runs: dict[str, list[dict[str, Any]]], ref: str | None,
              keys: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Mean and 95% t-interval over seeds of each key, and the paired difference to `ref`'s runs."""
    out: dict[str, dict[str, Any]] = {}
    for name, rs in runs.items():
        row: dict[str, Any] = {k: t_interval([r[k] for r in rs]) for k in keys}
        if ref is not None and name != ref:
            row["diff_vs_" + ref] = {k: t_interval([a[k] - b[k] for a, b in zip(rs, runs[ref], strict=True)])
                                     for k in keys}
        out[name] = row
    return out


def fmt(d: dict[str, Any]) -> str:
    return f"{d['mean']:.3f} ± {d['half_width']:.3f}"


def bon_gold(policy: SimPolicy, reward: str, n: int, prompts: int, seed: int) -> float:
    """Gold of the proxy's best of n samples of `policy`, averaged over `prompts` held-out prompts."""
    cfg = SimConfig()
    rng = make_rng(seed, "bon-eval")
    pick = _family_picker(cfg)
    items = [FAMILY_IMPLS[pick(rng)].sample(rng) for _ in range(prompts)]
    drawn = _draw(policy, items, n, rng)
    rewarder = Rewarder(reward, weights=cfg.weights, length_norm=cfg.length_norm)
    flat = [(it, s) for it, row in zip(items, drawn, strict=True) for s in row]
    r = rewarder(0, [it.prompt for it, _ in flat], [s[2] for _, s in flat], [s[1] for _, s in flat])
    g = np.array([gold_utility(s[1], cfg.weights) for _, s in flat])
    best = r.reshape(prompts, n).argmax(axis=1)
    return float(g.reshape(prompts, n)[np.arange(prompts), best].mean())


def part_drro(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for proxy in args.proxies:
        configs = {"grpo": {"method": "grpo"}}
        for e in args.eps:
            configs[f"drro eps={e}"] = {"method": "drro", "drro_eps": e}
            configs[f"dro eps={e}"] = {"method": "dro", "drro_eps": e}
        runs = {name: [one_run(tmp, reward=proxy, steps=args.steps, lr=args.lr, seed=s, **c)
                       for s in range(args.seeds)] for name, c in configs.items()}
        keys = ("final_gold", "peak_gold", "gold_at_proxy_best", "final_win", "final_kl")
        summ = summarise(runs, "grpo", keys)
        out[proxy] = {"summary": summ, "runs": {k: [{kk: vv for kk, vv in r.items() if kk not in ("policy",)}
                                                    for r in v] for k, v in runs.items()}}
        rows = [[n, fmt(s["final_gold"]), fmt(s["peak_gold"]), fmt(s["gold_at_proxy_best"]), fmt(s["final_win"]),
                 fmt(s["final_kl"]), "" if n == "grpo" else fmt(s["diff_vs_grpo"]["final_gold"])]
                for n, s in summ.items()]
        print(f"\nDRRO / DRO / GRPO against {proxy} ({args.seeds} seeds, {args.steps} steps, lr {args.lr}):")
        print(table(rows, ["method", "final gold", "peak gold", "gold @ proxy best", "final win", "final KL",
                           "final gold - grpo"]))
    return out


def part_tea(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    base = SimPolicy.from_base("default")
    for proxy in args.proxies:
        configs = {f"grpo lr={lr}": {"method": "grpo", "lr": lr} for lr in args.grpo_lrs}
        for lr in args.tea_lrs:
            configs[f"tea N=64 lr={lr}"] = {"method": "grpo", "advantage": "tea", "bon_n": 64, "lr": lr}
        runs: dict[str, list[dict[str, Any]]] = {}
        for name, c in configs.items():
            runs[name] = []
            for s in range(args.seeds):
                r = one_run(tmp, reward=proxy, steps=args.steps, seed=s, group=8, **c)
                r["bon64_gold"] = bon_gold(r.pop("policy"), proxy, 64, args.bon_prompts, seed=1000 + s)
                runs[name].append(r)
        base_bon = [bon_gold(base, proxy, 64, args.bon_prompts, seed=1000 + s) for s in range(args.seeds)]
        ref = f"grpo lr={args.grpo_lrs[-1]}"
        summ = summarise(runs, ref, ("bon64_gold", "final_gold", "final_kl"))
        out[proxy] = {"summary": summ, "base_bon64_gold": t_interval(base_bon), "runs": runs}
        rows = [[n, fmt(s["bon64_gold"]), fmt(s["final_gold"]), fmt(s["final_kl"]),
                 "" if n == ref else fmt(s["diff_vs_" + ref]["bon64_gold"])] for n, s in summ.items()]
        rows.append(["base policy", fmt(t_interval(base_bon)), f"{base.expected_gold():.3f}", "0", ""])
        print(f"\nTEA vs GRPO against {proxy} (groups of 8, best-of-64 over {args.bon_prompts} held-out prompts, "
              f"{args.seeds} seeds, {args.steps} steps):")
        print(table(rows, ["method", "best-of-64 gold", "final gold", "final KL", "bo64 gold - grpo"]))
    return out


def part_controls(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    proxy = args.proxies[0]
    common = {"steps": args.steps, "lr": args.lr}
    runs = {
        "grpo vs proxy": [one_run(tmp, reward=proxy, seed=s, **common) for s in range(args.seeds)],
        "grpo vs gold": [one_run(tmp, reward="gold", seed=s, **common) for s in range(args.seeds)],
        "grpo vs proxy, kl 0.5": [one_run(tmp, reward=proxy, seed=s, kl_beta=0.5, **common)
                                  for s in range(args.seeds)],
        "grpo vs proxy, other seeds": [one_run(tmp, reward=proxy, seed=100 + s, **common)
                                       for s in range(args.seeds)],
    }
    summ = summarise(runs, "grpo vs proxy", ("final_gold", "peak_gold", "final_win"))
    rows = [[n, fmt(s["final_gold"]), "" if n == "grpo vs proxy" else fmt(s["diff_vs_grpo vs proxy"]["final_gold"])]
            for n, s in summ.items()]
    print(f"\nControls against {proxy} ({args.seeds} seeds): positive (gold, KL) and A/A negative (other seeds)")
    print(table(rows, ["run", "final gold", "difference to grpo vs proxy (paired by seed index)"]))
    return {"proxy": proxy, "summary": summ,
            "runs": {k: [{kk: vv for kk, vv in r.items() if kk != "policy"} for r in v] for k, v in runs.items()}}


def spread_error(ens: str, policy: SimPolicy, n: int, seed: int) -> dict[str, float]:
    """Spearman correlation, over n samples of `policy` (one per prompt), between the ensemble members' spread (their
    population std) and the ensemble mean's error |proxy - (a + b gold)| (a, b least squares)."""
    from scipy.stats import spearmanr

    cfg = SimConfig()
    rng = make_rng(seed, "spread-error")
    pick = _family_picker(cfg)
    items = [FAMILY_IMPLS[pick(rng)].sample(rng) for _ in range(n)]
    flat = [(it, row[0]) for it, row in zip(items, _draw(policy, items, 1, rng), strict=True)]
    mean, _, mem = Rewarder(ens, weights=cfg.weights, length_norm=cfg.length_norm).parts(
        0, [it.prompt for it, _ in flat], [s[2] for _, s in flat], [s[1] for _, s in flat])
    gold = np.array([gold_utility(s[1], cfg.weights) for _, s in flat])
    b, a = np.polyfit(gold, mean, 1)
    err = np.abs(mean - (a + b * gold))
    return {"spearman": float(spearmanr(mem.std(axis=1), err).statistic), "n": n}


MITIGATION_ENSEMBLES = {
    # members trained on labels from annotators with different biases: they disagree where the biases act
    "diverse": "bow:human_like:4000:1;bow:length=2,agreement=0.5,format=0.3:4000:2;bow:neutral:4000:3",
    # members that differ only in their data seed (same annotator): near-identical, the negative control
    "resampled": "bow:human_like:4000:1;bow:human_like:4000:2;bow:human_like:4000:3",
}


def part_mitigations(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    proxy = "bow:human_like"
    common = {"steps": args.steps, "lr": args.lr}
    configs: dict[str, dict[str, Any]] = {
        "plain": {"reward": proxy},
        f"rm updates every {args.rm_every}": {"reward": proxy, "rm_update_every": args.rm_every,
                                              "rm_update_pairs": args.rm_pairs},
    }
    for kind, ens in MITIGATION_ENSEMBLES.items():
        configs[f"{kind} ensemble mean"] = {"reward": ens}
        configs[f"{kind} ensemble min"] = {"reward": ens, "select": "min"}
        configs[f"{kind} ensemble uwo:1"] = {"reward": ens, "select": "uwo:1"}
    configs["kl 0.5"] = {"reward": proxy, "kl_beta": 0.5}
    configs["gold"] = {"reward": "gold"}
    if args.mitigations != "all":
        keep = {"plain", "gold", *(c.strip() for c in args.mitigations.split(","))}
        configs = {k: v for k, v in configs.items() if k in keep}
    runs = {n: [one_run(tmp, seed=s, **common, **c) for s in range(args.seeds)] for n, c in configs.items()}
    summ = summarise(runs, "plain", ("final_gold", "peak_gold", "final_win", "final_kl"))
    gap = np.array([g["final_gold"] - p["final_gold"] for g, p in zip(runs["gold"], runs["plain"], strict=True)])
    for n, s in summ.items():
        if n not in ("plain", "gold"):
            closed = np.array([m["final_gold"] - p["final_gold"] for m, p in zip(runs[n], runs["plain"],
                                                                                 strict=True)]) / gap
            s["gap_closed"] = t_interval(closed)
    rows = [[n, fmt(s["final_gold"]), fmt(s["peak_gold"]), fmt(s["final_win"]),
             "" if n == "plain" else fmt(s["diff_vs_plain"]["final_gold"]),
             fmt(s["gap_closed"]) if "gap_closed" in s else ""] for n, s in summ.items()]
    print(f"\nMitigations against {proxy} ({args.seeds} seeds, {args.steps} steps, lr {args.lr}):")
    print(table(rows, ["run", "final gold", "peak gold", "final win", "final gold - plain", "share of gap closed"]))
    out: dict[str, Any] = {"proxy": proxy, "ensembles": MITIGATION_ENSEMBLES, "summary": summ}
    upd = [u for n, rs in runs.items() if n.startswith("rm updates") for r in rs for u in r["rm_updates"]]
    if upd:
        before = [u["gold_agreement_before"] for u in upd if u["gold_agreement_before"] is not None]
        after = [u["gold_agreement_after"] for u in upd if u["gold_agreement_after"] is not None]
        labels = [u["label_gold_agreement"] for u in upd if u["label_gold_agreement"] is not None]
        out["rm_update_agreement"] = {"before": float(np.mean(before)), "after": float(np.mean(after)),
                                      "labels": float(np.mean(labels)), "updates": len(upd)}
        print(f"RM gold agreement on held-out on-policy pairs: before updates {np.mean(before):.3f}, after "
              f"{np.mean(after):.3f} ({len(upd)} updates); the annotator labels' own {np.mean(labels):.3f}")
    spread = {}
    for kind, ens in MITIGATION_ENSEMBLES.items():
        if not any(n.startswith(kind) for n in runs):
            continue
        spread[kind] = {"base policy": spread_error(ens, SimPolicy.from_base("default"), args.bon_prompts * 5, 0),
                        "plain final policy": spread_error(ens, runs["plain"][0]["policy"],
                                                                 args.bon_prompts * 5, 0)}
        print(f"{kind} ensemble: Spearman(member spread, |proxy error|) on the base policy's samples "
              f"{spread[kind]['base policy']['spearman']:.3f}, on the plain run's final policy's "
              f"{spread[kind]['plain final policy']['spearman']:.3f}")
    out["spread_error"] = spread
    out["runs"] = {k: [{kk: vv for kk, vv in r.items() if kk != "policy"} for r in v] for k, v in runs.items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parts", default="drro,tea,controls,mitigations")
    ap.add_argument("--proxies", default="annotator:length=3;bow:human_like",
                    help="Proxies separated by '|' or ';' at the top level (each one reward spec).")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--lr", type=float, default=1.0)
    ap.add_argument("--eps", default="0.1,0.5,1.0")
    ap.add_argument("--tea-lrs", default="30,300,3000")
    ap.add_argument("--grpo-lrs", default="0.1,1.0", help="tea part: GRPO's learning rates (the last is the "
                    "reference of the paired differences); a small one matches TEA's KL")
    ap.add_argument("--bon-prompts", type=int, default=200)
    ap.add_argument("--rm-every", type=int, default=10)
    ap.add_argument("--rm-pairs", type=int, default=64)
    ap.add_argument("--mitigations", default="all", help="mitigations part: the runs to make besides plain and "
                    "gold, comma-separated names as in its table (default all)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    args.proxies = [p for p in args.proxies.replace("|", ";").split(";") if p]
    args.eps = [float(x) for x in args.eps.split(",")]
    args.tea_lrs = [float(x) for x in args.tea_lrs.split(",")]
    args.grpo_lrs = [float(x) for x in args.grpo_lrs.split(",")]
    t0 = time.perf_counter()
    result: dict[str, Any] = {"command": command_line(), "settings": {k: v for k, v in vars(args).items()}}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for part in args.parts.split(","):
            t1 = time.perf_counter()
            result[part] = {"drro": part_drro, "tea": part_tea, "controls": part_controls,
                            "mitigations": part_mitigations}[part](args, tmp)
            result[part]["elapsed_s"] = round(time.perf_counter() - t1, 1)
            print(f"[{part}: {result[part]['elapsed_s']} s]")
    result["elapsed_s"] = round(time.perf_counter() - t0, 1)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, default=_json_default))
        print(f"wrote {args.json}")


def _json_default(o: Any) -> Any:
    if isinstance(o, SimPolicy):
        return None
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(type(o))


if __name__ == "__main__":
    main()
