"""PPE's central claim, tested on the simulator: do a reward model's PPE metrics predict the gold a policy reaches
when it is optimised against that reward model?

Reward models (13, spanning quality): bag-of-words Bradley-Terry RMs (`bow:...`) trained on 250..8,000 pairs
labelled by the human-like simulated annotator; on 2,000 / 8,000 neutral (gold-following) labels; on labels from
biased annotators (length 3; agreement 6); on 2,000 human-like labels of which 30% are flipped (label noise); and
two "oracle-ish" attribute rewards (`annotator:human_like`, `annotator:length=3`: gold plus the annotator's
biases, read from the simulator's hidden attributes). `gold` is run as a reference row (the ceiling), outside the
correlations.

For each RM:
1. PPE metrics computed by `rewardlab.evaluate` on held-out simulator data (`simulator_eval_sets`, seed 20,000:
   600 pairs, 150 pools of 8 responses, 600 battles between the six simulated systems); see METRICS for the list.
   Attribute rewards are scored through `SimScorer`, which hands the Rewarder each response's hidden attributes
   (looked up from the evaluation records); text RMs ignore them.
2. The same GRPO budget against it (`rewardlab.policy.loop.run`: --steps, --lr, --kl-beta fixed, groups of 8,
   16 prompts a step), seeds 0..S-1: final gold and peak gold (the exact expected gold utility of the policy,
   the peak over all steps), mean and 95% t-interval over seeds.
3. Spearman (scipy.stats.spearmanr) across the RMs between each metric and the mean final / peak gold, with a
   95% percentile bootstrap interval over RMs (resampling RMs with replacement; resamples where either side is
   constant are dropped), and a permutation p-value (metric shuffled across RMs).

Controls:
- positive: "replicate" = the RM's final (peak) gold on other seeds (100, 101, ...): a metric built to predict,
  limited only by seed noise; its Spearman shows how much of the ranking is reproducible at all.
- negative: pair accuracy shuffled across RMs (one fixed permutation, with its bootstrap CI; and the permutation
  distribution of Spearman: mean and 95% range).

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/ppe_predicts_optimisation.py --json /tmp/ppe.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import command_line, table  # noqa: E402

# Each RM: name -> a reward spec, or "noisy:PRESET:N:SEED:FLIP" (a bow RM on N PRESET-labelled pairs, a share
# FLIP of them with chosen and rejected swapped).
RMS: dict[str, str] = {
    "bow human_like 250": "bow:human_like:250:0",
    "bow human_like 500": "bow:human_like:500:0",
    "bow human_like 1000": "bow:human_like:1000:0",
    "bow human_like 2000": "bow:human_like:2000:0",
    "bow human_like 4000": "bow:human_like:4000:0",
    "bow human_like 8000": "bow:human_like:8000:0",
    "bow neutral 2000": "bow:neutral:2000:0",
    "bow neutral 8000": "bow:neutral:8000:0",
    "bow length=3 2000": "bow:length=3:2000:0",
    "bow agreement=6 2000": "bow:length=0,agreement=6,format=0:2000:0",
    "bow human_like 2000 30% flipped": "noisy:human_like:2000:0:0.3",
    "annotator human_like": "annotator:human_like",
    "annotator length=3": "annotator:length=3",
}
REFERENCE = {"gold": "gold"}

# metric name -> (dataset, path in evaluate's metrics, direction: +1 higher is better, -1 lower is better)
METRICS: dict[str, tuple[str, tuple[Any, ...], int]] = {
    "pair accuracy (sim labels)": ("sim_pairs", ("accuracy", "estimate"), 1),
    "pair gold agreement": ("sim_pairs", ("gold_agreement", "agreement", "estimate"), 1),
    "pool Spearman within prompt": ("sim_pools", ("ranking", "spearman_within_groups", "estimate"), 1),
    "pool Kendall within prompt": ("sim_pools", ("ranking", "kendall_within_groups", "estimate"), 1),
    "pool correctness accuracy": ("sim_pools", ("correctness", "accuracy", "estimate"), 1),
    "pool ROC AUC": ("sim_pools", ("correctness", "roc_auc", "estimate"), 1),
    "best-of-8 correct (end score)": ("sim_pools", ("correctness", "end_score", "estimate"), 1),
    "best-of-K curve loss": ("sim_pools", ("correctness", "loss", "estimate"), -1),
    "best-of-8 gold": ("sim_pools", ("gold_best_of_k", "rm", -1), 1),
    "ascent alignment": ("sim_pools", ("harm_aware", "ascent_alignment", "estimate"), 1),
    "harmful error mass": ("sim_pools", ("harm_aware", "harmful_error_mass", "estimate"), -1),
    "battle accuracy": ("sim_battles", ("accuracy", "estimate"), 1),
    "battle Spearman": ("sim_battles", ("spearman",), 1),
    "battle Kendall": ("sim_battles", ("kendall",), 1),
    "battle row-wise Pearson": ("sim_battles", ("rowwise_pearson",), 1),
    "battle separability": ("sim_battles", ("separability",), 1),
    "battle Brier": ("sim_battles", ("brier",), -1),
}


def spearman_ci(x: Sequence[float], y: Sequence[float], resamples: int = 2000, seed: int = 0,
                confidence: float = 0.95) -> dict[str, Any]:
    """Spearman's rho of x and y (scipy.stats.spearmanr) with a percentile bootstrap interval over the items.

    Each resample draws len(x) items with replacement (for this benchmark: reward models) and recomputes rho;
    resamples in which x or y is constant (rho undefined) are dropped and counted.

    Args:
        x: one value per item.
        y: one value per item (same length, at least 3).
        resamples: bootstrap resamples.
        seed: the resampling seed.
        confidence: the interval's coverage.

    Returns:
        {"rho", "lo", "hi", "n" (items), "resamples_used"}; lo / hi are None when fewer than 10 resamples were usable.

    Raises:
        ValueError: x and y of different lengths or fewer than 3 items.

    Example:
        >>> round(spearman_ci([1, 2, 3, 4], [1, 3, 2, 4], resamples=200)["rho"], 3)
        0.8
    """
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.shape != ya.shape or xa.ndim != 1 or xa.size < 3:
        raise ValueError(f"spearman_ci: need two 1-D arrays of the same length >= 3, got {xa.shape}, {ya.shape}")
    rho = float(spearmanr(xa, ya).statistic)
    rng = np.random.default_rng(seed)
    reps = []
    for _ in range(resamples):
        idx = rng.integers(0, xa.size, xa.size)
        if np.ptp(xa[idx]) == 0 or np.ptp(ya[idx]) == 0:
            continue
        reps.append(float(spearmanr(xa[idx], ya[idx]).statistic))
    a = (1 - confidence) / 2
    lo, hi = (float(np.quantile(reps, a)), float(np.quantile(reps, 1 - a))) if len(reps) >= 10 else (None, None)
    return {"rho": rho, "lo": lo, "hi": hi, "n": int(xa.size), "resamples_used": len(reps)}


def permutation_p(x: Sequence[float], y: Sequence[float], perms: int = 2000, seed: int = 0) -> float:
    """Two-sided permutation p-value of Spearman's rho: share of shuffles of x with |rho| >= the observed |rho|
    (the observed one counted, so never 0).

    Example:
        >>> permutation_p([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4, 5, 6, 7, 8], perms=500) < 0.01
        True
    """
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    obs = abs(float(spearmanr(xa, ya).statistic))
    rng = np.random.default_rng(seed)
    hits = sum(abs(float(spearmanr(rng.permutation(xa), ya).statistic)) >= obs - 1e-12 for _ in range(perms))
    return (hits + 1) / (perms + 1)


def dig(d: dict[str, Any], path: tuple[Any, ...]) -> float:
    """The number at `path` in evaluate's nested metrics (NaN when missing)."""
    cur: Any = d
    for k in path:
        try:
            cur = cur[k]
        except (KeyError, IndexError, TypeError):
            return float("nan")
    return float(cur) if cur is not None else float("nan")


class SimScorer:
    """A loop reward as a Scorer on simulator evaluation records: hands the Rewarder each response's hidden
    attributes (looked up by (prompt, response) in `index`), so attribute rewards (gold, annotator:...) can be
    evaluated like text RMs; text RMs ignore them."""

    def __init__(self, rewarder: Any, index: dict[tuple[str, str], dict[str, Any]]):
        self.rewarder, self.index, self.name = rewarder, index, rewarder.name

    def score(self, prompts: Sequence[str], responses: Sequence[str], progress: bool = False) -> Any:
        from rewardlab.scoring.output import RewardOutput

        attrs = [self.index[(p, r)] for p, r in zip(prompts, responses, strict=True)]
        return RewardOutput(self.rewarder(0, list(prompts), list(responses), attrs))


def attr_index(sets: dict[str, list[Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """(prompt, response) -> the simulator's attributes, from the records' extra fields."""
    idx: dict[tuple[str, str], dict[str, Any]] = {}
    for rec in sets["sim_pairs"]:
        idx[(rec.prompt, rec.chosen)] = rec.extra["attrs_chosen"]
        idx[(rec.prompt, rec.rejected)] = rec.extra["attrs_rejected"]
    for rec in sets["sim_pools"]:
        for resp, a in zip(rec.responses, rec.extra["attrs"], strict=True):
            idx[(rec.prompt, resp)] = a
    for rec in sets["sim_battles"]:
        idx[(rec.prompt, rec.response_a)] = rec.extra["attrs_a"]
        idx[(rec.prompt, rec.response_b)] = rec.extra["attrs_b"]
    return idx


def build_scorer(spec: str) -> Any:
    """None for specs the loop loads itself; a fitted BowRewardModel for 'noisy:PRESET:N:SEED:FLIP'."""
    if not spec.startswith("noisy:"):
        return None
    from rewardlab.policy.annotators import annotator_config
    from rewardlab.policy.bow_rm import BowRewardModel
    from rewardlab.simulate.generate import simulate_pairs

    _, preset, n, seed, flip = spec.split(":")
    pairs = simulate_pairs(int(n), seed=int(seed), config=annotator_config(preset))
    rng = random.Random(12345 + int(seed))
    for p in pairs:
        if rng.random() < float(flip):
            p["chosen"], p["rejected"] = p["rejected"], p["chosen"]
    rm = BowRewardModel(name=spec)
    rm.fit(pairs)
    return rm


def fresh(scorer: Any) -> Any:
    """A copy of an updatable scorer (the loop must not share state between runs)."""
    return None if scorer is None else type(scorer).from_dict(scorer.to_dict())


def run_rm(name: str, spec: str, args: argparse.Namespace, tmp: Path, seeds: Sequence[int]) -> list[dict[str, Any]]:
    from rewardlab.policy.loop import OptimizeSpec, run

    scorer = build_scorer(spec)
    out = []
    for s in seeds:
        res = run(OptimizeSpec(reward=spec, output=str(tmp / f"{abs(hash((name, s))) % 10**9}"), plot=False,
                               overwrite=True, steps=args.steps, lr=args.lr, kl_beta=args.kl_beta, seed=s),
                  scorer=fresh(scorer))
        out.append({"seed": s, "final_gold": res.final["gold"], "peak_gold": res.sweet_spot["gold"],
                    "peak_step": res.sweet_spot["step"], "final_kl": res.final["kl"],
                    "start_gold": res.records[0]["gold"]})
    return out


def ppe_metrics(spec: str, sets: dict[str, list[Any]], index: dict[tuple[str, str], dict[str, Any]],
                tmp: Path, resamples: int) -> dict[str, Any]:
    from rewardlab.eval.evaluate import evaluate
    from rewardlab.policy.rewards import Rewarder
    from rewardlab.simulate.config import SimConfig

    cfg = SimConfig()
    scorer = build_scorer(spec)
    rewarder = Rewarder(spec, scorer=scorer, weights=cfg.weights, length_norm=cfg.length_norm)
    res = evaluate(SimScorer(rewarder, index), sets, tmp / "eval", n_resamples=resamples, progress=False,
                   plots=False)
    ds = res["datasets"]
    vals = {m: dig(ds[d], path) for m, (d, path, _) in METRICS.items()}
    vals["_best_of_k_credit_n"] = dig(ds["sim_pools"], ("best_of_k_credit", "n"))
    return vals


def correlate(names: list[str], metrics: dict[str, dict[str, float]], outcome: dict[str, np.ndarray],
              args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in [*METRICS, "replicate (positive control)", "shuffled pair accuracy (negative control)"]:
        row = {}
        for oc in ("final_gold", "peak_gold"):
            if m.startswith("replicate"):
                x = np.array([metrics[n]["_replicate_" + oc] for n in names])
            elif m.startswith("shuffled"):
                perm = np.random.default_rng(args.seed + 7).permutation(len(names))
                x = np.array([metrics[names[i]]["pair accuracy (sim labels)"] for i in perm])
            else:
                x = np.array([metrics[n][m] for n in names])
            ok = np.isfinite(x)
            row[oc] = {**spearman_ci(x[ok], outcome[oc][ok], args.boot, args.seed),
                       "p_perm": permutation_p(x[ok], outcome[oc][ok], args.perms, args.seed)}
        out[m] = row
    acc = np.array([metrics[n]["pair accuracy (sim labels)"] for n in names])
    rng = np.random.default_rng(args.seed + 11)
    null = np.array([spearmanr(rng.permutation(acc), outcome["final_gold"]).statistic for _ in range(args.perms)])
    out["_shuffle_null_final"] = {"mean": float(null.mean()), "lo": float(np.quantile(null, 0.025)),
                                  "hi": float(np.quantile(null, 0.975)), "perms": args.perms}
    return out


def ci_str(d: dict[str, Any]) -> str:
    lo = "?" if d["lo"] is None else f"{d['lo']:+.2f}"
    hi = "?" if d["hi"] is None else f"{d['hi']:+.2f}"
    return f"{d['rho']:+.2f} [{lo}, {hi}]"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5, help="GRPO seeds per RM (0..S-1)")
    ap.add_argument("--replicate-seeds", type=int, default=2, help="other seeds (100..) of the positive control")
    ap.add_argument("--steps", type=int, default=80)
    ap.add_argument("--lr", type=float, default=1.0)
    ap.add_argument("--kl-beta", type=float, default=0.1)
    ap.add_argument("--boot", type=int, default=2000, help="bootstrap resamples over RMs")
    ap.add_argument("--perms", type=int, default=2000, help="permutations of the p-values and the shuffle null")
    ap.add_argument("--eval-resamples", type=int, default=100, help="evaluate's own bootstrap (unused here)")
    ap.add_argument("--rms", default="all", help="comma-separated RM names (default all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    ap.add_argument("--reanalyse", default=None, help="a --json of an earlier run: recompute the correlations from "
                    "its PPE metrics and GRPO outcomes (no evaluation, no runs)")
    args = ap.parse_args(argv)
    from rewardlab.policy.compare import t_interval
    from rewardlab.simulate.datasets import simulator_eval_sets

    t0 = time.perf_counter()
    rms = RMS if args.rms == "all" else {k: RMS[k] for k in args.rms.split(",")}
    metrics: dict[str, dict[str, float]] = {}
    runs: dict[str, list[dict[str, Any]]] = {}
    replicate: dict[str, list[dict[str, Any]]] = {}
    if args.reanalyse:  # the statistics again from a saved run's metrics and GRPO outcomes, without rerunning
        saved = json.loads(Path(args.reanalyse).read_text())
        rms = {k: v for k, v in saved["rms"].items() if k not in REFERENCE}
        metrics, runs, replicate = saved["metrics"], saved["runs"], saved["replicate"]
        for k in ("steps", "lr", "kl_beta", "seeds", "replicate_seeds"):
            setattr(args, k, saved["settings"][k])
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        sets = simulator_eval_sets()
        index = attr_index(sets)
        for name, spec in ({} if args.reanalyse else {**rms, **REFERENCE}).items():
            t1 = time.perf_counter()
            metrics[name] = ppe_metrics(spec, sets, index, tmp, args.eval_resamples)
            runs[name] = run_rm(name, spec, args, tmp, range(args.seeds))
            replicate[name] = run_rm(name, spec, args, tmp, range(100, 100 + args.replicate_seeds))
            for oc in ("final_gold", "peak_gold"):
                metrics[name]["_replicate_" + oc] = float(np.mean([r[oc] for r in replicate[name]]))
            print(f"[{name}: {time.perf_counter() - t1:.0f} s]", flush=True)
    names = list(rms)
    summ = {n: {oc: t_interval([r[oc] for r in runs[n]]) for oc in ("final_gold", "peak_gold", "final_kl")}
            for n in runs}
    outcome = {oc: np.array([summ[n][oc]["mean"] for n in names]) for oc in ("final_gold", "peak_gold")}

    def f(d: dict[str, Any]) -> str:
        return f"{d['mean']:.3f} ± {d['half_width']:.3f}"

    short = ["pair accuracy (sim labels)", "pair gold agreement", "pool Spearman within prompt", "best-of-8 gold",
             "battle Spearman"]
    rows = [[n, *(f"{metrics[n][m]:.3f}" for m in short), f(summ[n]["final_gold"]), f(summ[n]["peak_gold"]),
             f(summ[n]["final_kl"])] for n in [*names, *REFERENCE]]
    print(f"\nReward models ({len(names)} in the correlations; gold as reference), GRPO {args.steps} steps, lr "
          f"{args.lr}, KL beta {args.kl_beta}, {args.seeds} seeds (95% t-CI):")
    print(table(rows, ["reward model", "pair acc", "gold agr", "pool rho", "bo8 gold", "battle rho", "final gold",
                       "peak gold", "final KL"]))
    corr = correlate(names, metrics, outcome, args)
    rows = [[m, "+" if METRICS.get(m, (0, 0, 1))[2] > 0 else "- (lower better)", ci_str(c["final_gold"]),
             f"{c['final_gold']['p_perm']:.3f}", ci_str(c["peak_gold"]), f"{c['peak_gold']['p_perm']:.3f}"]
            for m, c in corr.items() if not m.startswith("_")]
    print(f"\nSpearman across {len(names)} reward models (95% bootstrap CI over RMs, {args.boot} resamples; "
          f"two-sided permutation p, {args.perms} shuffles):")
    print(table(rows, ["metric", "sign", "vs final gold", "p", "vs peak gold", "p"]))
    trained = [n for n in names if rms[n].startswith(("bow:", "noisy:"))]
    if 3 <= len(trained) < len(names):
        sub = correlate(trained, metrics, {oc: np.array([summ[n][oc]["mean"] for n in trained])
                                           for oc in ("final_gold", "peak_gold")}, args)
        corr["_trained_only"] = sub
        rows = [[m, ci_str(c["final_gold"]), f"{c['final_gold']['p_perm']:.3f}", ci_str(c["peak_gold"]),
                 f"{c['peak_gold']['p_perm']:.3f}"] for m, c in sub.items() if not m.startswith("_")]
        print(f"\nThe same over the {len(trained)} trained (bag-of-words) RMs only, without the attribute rewards:")
        print(table(rows, ["metric", "vs final gold", "p", "vs peak gold", "p"]))
    nul = corr["_shuffle_null_final"]
    print(f"shuffled pair accuracy over {nul['perms']} permutations: Spearman with final gold mean {nul['mean']:+.3f}, "
          f"95% range [{nul['lo']:+.2f}, {nul['hi']:+.2f}]")
    print(f"best-of-K credit (RewardBench-v2 style) is left out: only {metrics[names[0]]['_best_of_k_credit_n']:.0f} "
          "pools have exactly one correct response")
    elapsed = time.perf_counter() - t0
    print(f"{len(names)} RMs + {len(REFERENCE)} reference, {args.seeds} + {args.replicate_seeds} seeds each; "
          + (f"reanalysed from {args.reanalyse} in " if args.reanalyse else "")
          + f"{elapsed:.0f} s")
    result = {"command": command_line(), "settings": vars(args), "rms": {**rms, **REFERENCE}, "metrics": metrics,
              "summary": summ, "runs": runs, "replicate": replicate, "correlations": corr,
              "elapsed_s": round(elapsed, 1)}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, default=_json_default))
        print(f"wrote {args.json}")
    return result


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Callable):  # type: ignore[arg-type]
        return None
    raise TypeError(type(o))


if __name__ == "__main__":
    main()
