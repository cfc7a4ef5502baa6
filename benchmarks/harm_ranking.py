"""Do the harm-aware metrics rank reward models the way their best-of-N gold does, better than plain accuracy?
(issue 28, item 3; ALGORITHMS.md section 3.)

On simulator pools (`rewardlab data simulate --kind pools`: K candidates per prompt with the simulator's gold
utility in `scores`), ten reward models of different quality are built cheaply from the gold and the responses'
known attributes: gold plus Gaussian noise of five sizes, two length-biased mixes, a formatting/sycophancy hacker,
pure length, and one that adds large noise (sd 3) to the below-median candidates only (top candidates scored
exactly, but bad ones pushed up past them). For each model: best-of-N gold (mean gold of each pool's top-scored candidate, N = K), the harm-aware
metrics (harmful error mass H, lower is better; ascent alignment rho; ascent cosine; pi_0 uniform), pairwise
accuracy within each pool (candidate pairs with different gold; model ties count 0.5) and the mean within-prompt
Spearman. The table gives Spearman's rank correlation across the models between each metric (H negated) and the
best-of-N gold, with a 95% percentile bootstrap CI over prompts (every metric and the best-of-N gold recomputed on
each resample), and the paired difference to accuracy's correlation.

    .venv/bin/python benchmarks/harm_ranking.py --prompts 400 -k 16 --resamples 200
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.stats import rankdata, spearmanr

from rewardlab.simulate.stage import simulate_kind
from rewardlab.stats.harm import harm_aware_metrics


def _z(x: np.ndarray) -> np.ndarray:
    return (x - x.mean()) / (x.std() + 1e-12)


def reward_models(rows: list[dict], gold: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """{name: [P, K] proxy rewards} of ten models of different quality."""
    rng = np.random.default_rng(seed)
    length = np.array([[len(r) for r in row["responses"]] for row in rows], dtype=float)
    fmt = np.array([[a["formatting"] for a in row["attrs"]] for row in rows], dtype=float)
    syc = np.array([[a["sycophantic"] for a in row["attrs"]] for row in rows], dtype=float)
    g, ln = _z(gold), _z(np.log1p(length))
    models = {f"gold + noise sd {s}": g + s * rng.standard_normal(g.shape) for s in (0.25, 0.5, 1.0, 2.0, 4.0)}
    models["0.7 gold + 0.7 length"] = 0.7 * g + 0.7 * ln
    models["0.4 gold + 1.0 length"] = 0.4 * g + 1.0 * ln
    models["gold + 2 (format + sycophancy)"] = g + 2.0 * (fmt + syc)
    models["length only"] = ln
    below = g < np.median(g, axis=1, keepdims=True)
    models["noise sd 3 below the median only"] = np.where(below, g + 3.0 * rng.standard_normal(g.shape), g)
    return models


def pool_metrics(proxy: np.ndarray, gold: np.ndarray) -> dict[str, np.ndarray]:
    """Per-prompt values whose means (or pooled ratios) are the model-level metrics; summed over prompts in the
    bootstrap. Returns arrays of length P."""
    p, k = gold.shape
    best = gold[np.arange(p), np.argmax(proxy, axis=1)]
    i, j = np.triu_indices(k, 1)
    dg = np.sign(gold[:, i] - gold[:, j])
    dp = np.sign(proxy[:, i] - proxy[:, j])
    valid = dg != 0
    agree = np.where(dp == 0, 0.5, (dp == dg).astype(float))
    acc_num = (agree * valid).sum(1)
    acc_den = valid.sum(1)
    rho_s = np.array([spearmanr(a, b).statistic if np.ptp(b) > 0 and np.ptp(a) > 0 else 0.0
                      for a, b in zip(proxy, gold, strict=True)])
    # ALGORITHMS.md 3 with uniform pi_0: per-prompt H, the pooled rho's numerator/denominator and the cosine
    pi0 = np.full_like(gold, 1.0 / k)
    gc = gold - (pi0 * gold).sum(1, keepdims=True)
    pc = proxy - (pi0 * proxy).sum(1, keepdims=True)
    harm = (pi0 * ((pc > 0) & (gc < 0))).sum(1)
    num = (pi0 ** 2 * gc * pc).sum(1)
    den = (pi0 ** 2 * gc * gc).sum(1)
    den_hat = (pi0 ** 2 * pc * pc).sum(1)
    cos = np.where((den > 0) & (den_hat > 0), num / np.sqrt(den * den_hat + 1e-300), 0.0)
    return {"bon": best, "harm": harm, "num": num, "den": den, "cos": cos, "acc_num": acc_num, "acc_den": acc_den,
            "spearman": rho_s}


def summarise(per: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, float]:
    """Model-level metrics on the prompts `idx` (a bootstrap resample or all)."""
    return {"bon_gold": per["bon"][idx].mean(), "neg_harmful_error_mass": -per["harm"][idx].mean(),
            "ascent_alignment": per["num"][idx].sum() / per["den"][idx].sum(),
            "ascent_cosine": per["cos"][idx].mean(),
            "accuracy": per["acc_num"][idx].sum() / per["acc_den"][idx].sum(),
            "within_prompt_spearman": per["spearman"][idx].mean()}


METRICS = ("neg_harmful_error_mass", "ascent_alignment", "ascent_cosine", "accuracy", "within_prompt_spearman")


def rank_corr(table: dict[str, dict[str, float]], metric: str) -> float:
    names = list(table)
    return float(spearmanr([table[n][metric] for n in names], [table[n]["bon_gold"] for n in names]).statistic)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prompts", type=int, default=400)
    ap.add_argument("-k", type=int, default=16)
    ap.add_argument("--resamples", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.perf_counter()
    rows = simulate_kind("pools", n=args.prompts, seed=args.seed, k=args.k)
    gold = np.array([r["scores"] for r in rows], dtype=float)
    models = reward_models(rows, gold, args.seed)
    per = {name: pool_metrics(proxy, gold) for name, proxy in models.items()}
    full = np.arange(len(rows))
    table = {name: summarise(v, full) for name, v in per.items()}
    # cross-check the pooled metrics against rewardlab.stats.harm on the full sample
    for name, proxy in models.items():
        m = harm_aware_metrics(proxy, gold, n_resamples=0)
        assert abs(m["harmful_error_mass"]["estimate"] + table[name]["neg_harmful_error_mass"]) < 1e-9, name
        assert abs(m["ascent_alignment"]["estimate"] - table[name]["ascent_alignment"]) < 1e-9, name
    rng = np.random.default_rng(args.seed + 1)
    boot = {m: [] for m in METRICS}
    for _ in range(args.resamples):
        idx = rng.integers(0, len(rows), len(rows))
        t = {name: summarise(v, idx) for name, v in per.items()}
        for m in METRICS:
            boot[m].append(rank_corr(t, m))
    boot_arr = {m: np.array(v) for m, v in boot.items()}

    print(f"{len(rows)} simulator pools x {args.k} candidates (seed {args.seed}), {len(models)} reward models, "
          f"{args.resamples} bootstrap resamples over prompts\n")
    print(f"{'reward model':<34}{'BoN gold':>9}{'-H':>8}{'rho':>8}{'cos':>8}{'acc':>8}{'spear':>8}")
    for name in sorted(table, key=lambda n: -table[n]["bon_gold"]):
        t = table[name]
        print(f"{name:<34}{t['bon_gold']:>9.3f}" + "".join(f"{t[m]:>8.3f}" for m in METRICS))
    bon_rank = rankdata([-table[n]["bon_gold"] for n in table])
    print(f"\nSpearman across the {len(models)} models with best-of-{args.k} gold (95% bootstrap CI over prompts), "
          "and the paired difference to accuracy's:")
    for m in METRICS:
        lo, hi = np.percentile(boot_arr[m], [2.5, 97.5])
        d = boot_arr[m] - boot_arr["accuracy"]
        dlo, dhi = np.percentile(d, [2.5, 97.5])
        diff = "" if m == "accuracy" else (f"   vs accuracy {rank_corr(table, m) - rank_corr(table, 'accuracy'):+.3f} "
                                          f"[{dlo:+.3f}, {dhi:+.3f}]")
        print(f"  {m:<24}{rank_corr(table, m):+.3f} [{lo:+.3f}, {hi:+.3f}]{diff}")
    print(f"\n(best-of-N ranks: {dict(zip(table, bon_rank.astype(int).tolist(), strict=True))})")
    print(f"{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
