"""The heteroscedastic comparison of the Berkeley report: no variance, a fixed variance, a learned variance.

Issue 27 item 5. Simulator annotators whose noise differs by prompt kind (the default per-family temperatures:
arithmetic 0.25, facts 0.5, false premise 0.5, units 1.0, advice 2.0; no biases, so noise is the only thing that
differs), 2,000 training pairs, MiniLM cut to 3 layers and fine-tuned twice:
- no variance: a scalar Bradley-Terry head (the quantile reward is the mean);
- fixed variance: the same scalar model with one sigma for every item, fitted by maximum likelihood on the training
  pairs (P(chosen) = Phi(d mu / (sqrt 2 sigma))); its quantile reward mu + Phi^-1(q) sigma;
- learned variance: a Gaussian head trained with the Gaussian (probit) pair loss; its quantile reward
  mu + Phi^-1(q) s(x);
- the same Gaussian head on frozen features, trained for 30 epochs: a check that the variance head can learn the
  per-family noise at all when it gets many passes (the fine-tuned one gets two).
Questions: (1) does the learned s track the annotators' true per-item noise (Spearman of s with the family's
temperature over held-out responses, CI clustered by prompt; per-family means)? (2) calibration: held-out NLL of the
labels under each; (3) best-of-n on pools from every family (300 prompts x 64 candidates; q chosen on the first 100,
tested on 200): does the learned quantile keep more gold than the mean (paired CI)? Two references on the same
pools: the quantile with sigma equal to the true noise (the family's temperature) and a positive control with sigma
equal to the proxy's |error| against gold (spread built to track error), which shows the pipeline can see a gain.

A fixed sigma and the true per-prompt noise are constant within a prompt, so their quantile rewards rank each
pool exactly as the mean does: best-of-n cannot change. The script checks that (identical picks) rather than
assuming it.

    .venv/bin/python benchmarks/hetero_variance.py --cache /tmp/hetero --json /tmp/hetero.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_run_args, command_line, start_run, table  # noqa: E402
from pessimism_fair import write_jsonl, zscore_rows  # noqa: E402


def train_model(kind: str, pairs: Path, held: Path, args, cache: Path) -> str:
    """A fine-tuned scalar or Gaussian model (reused when its folder exists)."""
    from rewardlab.train.config import TrainConfig
    from rewardlab.train.trainer import clean_checkpoints, train

    out = cache / f"model-{kind}"
    if (out / "rewardlab.json").exists():
        return str(out)
    opts = {"data": str(pairs), "eval_data": str(held), "output": str(out), "seed": args.seed, "lr": args.lr,
            "epochs": args.epochs, "max_length": 192, "num_layers": args.layers}
    if kind.startswith("gaussian"):
        opts.update(head="gaussian", loss="gaussian")
    if kind == "gaussian-frozen":  # the positive control of tracking: many epochs of a head on frozen features
        opts.update(freeze_backbone=True, head_epochs=args.head_epochs)
    t0 = time.perf_counter()
    train(TrainConfig.from_options(**opts))
    clean_checkpoints(str(out))
    print(f"{kind}: trained in {time.perf_counter() - t0:.0f} s", flush=True)
    return str(out)


def scores(path: str, prompts: list, responses: list, name: str, cache: Path) -> tuple[np.ndarray, np.ndarray | None]:
    from rewardlab.scoring import ModelScorer

    f = Path(path) / f"scores-{name}.npz"
    if f.exists():
        z = np.load(f)
        return z["mean"], (z["std"] if z["std"].size else None)
    t0 = time.perf_counter()
    out = ModelScorer.from_path(path, device="cpu").score(prompts, responses, progress=False)
    np.savez(f, mean=out.mean, std=out.std if out.std is not None else np.zeros(0))
    print(f"  {Path(path).name}: {len(prompts):,} {name} texts in {time.perf_counter() - t0:.0f} s", flush=True)
    return out.mean, out.std


def fit_fixed_sigma(dmu: np.ndarray, y: np.ndarray) -> float:
    """The one sigma maximising the probit pair likelihood Phi(d mu / (sqrt 2 sigma)) of labels y."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_ndtr

    def nll(log_s: float) -> float:
        z = np.clip(dmu / (np.sqrt(2) * np.exp(log_s)), -30, 30)
        return -float(np.mean(y * log_ndtr(z) + (1 - y) * log_ndtr(-z)))

    return float(np.exp(minimize_scalar(nll, bounds=(-12, 6), method="bounded").x))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train-pairs", type=int, default=2000)
    ap.add_argument("--eval-pairs", type=int, default=600)
    ap.add_argument("--prompts", type=int, default=300)
    ap.add_argument("--tune", type=int, default=100)
    ap.add_argument("--candidates", type=int, default=64)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--epochs", type=float, default=2.0)
    ap.add_argument("--quantile", default="0.05,0.1,0.25,0.4")
    ap.add_argument("--head-epochs", type=int, default=30, help="epochs of the frozen-feature Gaussian head")
    add_run_args(ap)
    args = ap.parse_args()
    cache = start_run(args)
    if cache is None:
        ap.error("--cache is required")
    from scipy.special import log_ndtr, ndtri

    from rewardlab.optimize import bon_expected, log2_n_grid
    from rewardlab.simulate import neutral, simulate_pairs, simulate_pools
    from rewardlab.stats.bootstrap import bootstrap_mean_ci

    cfg = neutral()
    pairs_f, held_f = cache / "pairs.jsonl", cache / "eval.jsonl"
    if not pairs_f.exists():
        write_jsonl(pairs_f, simulate_pairs(args.train_pairs, seed=111, config=cfg))
        write_jsonl(held_f, simulate_pairs(args.eval_pairs, seed=222, config=cfg))
    held = [json.loads(x) for x in held_f.read_text().splitlines()]
    train_rows = [json.loads(x) for x in pairs_f.read_text().splitlines()]
    models = {k: train_model(k, pairs_f, held_f, args, cache) for k in ("scalar", "gaussian", "gaussian-frozen")}

    # (1) + (2): held-out responses, true noise = the family's temperature
    hp = [r["prompt"] for r in held] * 2
    hr = [r["chosen"] for r in held] + [r["rejected"] for r in held]
    tau = np.array([r["tau"] for r in held] * 2, dtype=float)
    fam = [r["category"] for r in held] * 2
    n = len(held)
    y = np.ones(n)  # labels: chosen won
    mu_s, _ = scores(models["scalar"], hp, hr, "heldout", cache)
    mu_g, s_g = scores(models["gaussian"], hp, hr, "heldout", cache)
    tp = [r["prompt"] for r in train_rows] * 2
    tr = [r["chosen"] for r in train_rows] + [r["rejected"] for r in train_rows]
    mu_t, _ = scores(models["scalar"], tp, tr, "train", cache)
    nt = len(train_rows)
    sigma_fixed = fit_fixed_sigma(mu_t[:nt] - mu_t[nt:], np.ones(nt))
    from scipy.stats import spearmanr

    rng = np.random.default_rng(args.seed)
    keys = np.array(hp)
    uniq = np.unique(keys)
    draws = [np.flatnonzero(np.isin(keys, rng.choice(uniq, size=len(uniq), replace=True)))
             for _ in range(args.resamples)]  # clustered by prompt: resample prompts, keep all their items

    def tracking(s: np.ndarray) -> tuple[float, list[float]]:
        boot = [spearmanr(s[i], tau[i]).statistic for i in draws if np.ptp(s[i]) > 0 and np.ptp(tau[i]) > 0]
        return float(spearmanr(s, tau).statistic), [float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))]

    rho, rho_ci = tracking(s_g)
    mu_f, s_f = scores(models["gaussian-frozen"], hp, hr, "heldout", cache)
    rho_f, rho_f_ci = tracking(s_f)
    fams = sorted(set(fam), key=lambda f: tau[fam.index(f)])
    per_fam = {f: {"tau": float(tau[fam.index(f)]),
                   "mean_s": float(s_g[[i for i, x in enumerate(fam) if x == f]].mean()),
                   "mean_s_frozen": float(s_f[[i for i, x in enumerate(fam) if x == f]].mean()),
                   "mean_abs_dmu": float(np.abs(mu_g[:n] - mu_g[n:])[[i for i in range(n) if fam[i] == f]].mean())}
               for f in fams}

    def nll(z: np.ndarray) -> tuple[float, list[float]]:
        v = -(y * log_ndtr(np.clip(z, -30, 30)))
        est, lo, hi = bootstrap_mean_ci(v, args.resamples, seed=args.seed)
        return float(est), [float(lo), float(hi)]

    d_s, d_g = mu_s[:n] - mu_s[n:], mu_g[:n] - mu_g[n:]
    logistic = np.log1p(np.exp(-d_s))  # BT's own likelihood for the no-variance model
    calib = {"no variance (logistic BT)": [float(logistic.mean()), [float(x) for x in bootstrap_mean_ci(
                 logistic, args.resamples, seed=args.seed)[1:]]],
             f"fixed sigma {sigma_fixed:.3g} (probit)": nll(d_s / (np.sqrt(2) * sigma_fixed)),
             "learned s (probit)": nll(d_g / np.sqrt(s_g[:n] ** 2 + s_g[n:] ** 2)),
             "learned s, frozen backbone (probit)": nll((mu_f[:n] - mu_f[n:]) / np.sqrt(s_f[:n] ** 2 + s_f[n:] ** 2))}

    # (3) best-of-n on pools from every family
    pools = simulate_pools(args.prompts, k=args.candidates, seed=333, config=cfg)
    pp = [q["prompt"] for q in pools for _ in q["responses"]]
    pr = [r for q in pools for r in q["responses"]]
    gold = np.array([q["scores"] for q in pools], dtype=float)
    ptau = np.array([q["tau"] for q in pools], dtype=float)
    shape = gold.shape
    ms, _ = scores(models["scalar"], pp, pr, "pools", cache)
    mg, sg = scores(models["gaussian"], pp, pr, "pools", cache)
    ms, mg, sg = ms.reshape(shape), mg.reshape(shape), sg.reshape(shape)
    ns = log2_n_grid(shape[1])
    tune, test = np.arange(args.tune), np.arange(args.tune, args.prompts)
    qs = [float(x) for x in args.quantile.split(",")]

    def quantile(mu: np.ndarray, s: np.ndarray, q: float) -> np.ndarray:
        return mu + ndtri(q) * s

    def tuned(mu: np.ndarray, s: np.ndarray) -> float:
        return max(qs, key=lambda q: bon_expected(quantile(mu[tune], s[tune], q), gold[tune], ns[-1:]).mean())

    err = np.abs(zscore_rows(mg) - zscore_rows(gold))
    rules = {
        "scalar: mean (no variance)": ms,
        "scalar: fixed sigma quantile": quantile(ms, np.full(shape, sigma_fixed), 0.1),
        "gaussian: mean": mg,
        "gaussian: learned-s quantile": None,
        "gaussian: true-noise quantile (s = tau)": None,
        "gaussian: positive control (s = |error|)": None,
    }
    chosen = {}
    for label, s in (("gaussian: learned-s quantile", sg), ("gaussian: true-noise quantile (s = tau)",
                                                             np.repeat(ptau[:, None], shape[1], 1)),
                     ("gaussian: positive control (s = |error|)", err * np.std(mg, axis=1, keepdims=True))):
        chosen[label] = tuned(mg, s)
        rules[label] = quantile(mg, s, chosen[label])
    curves = {k: bon_expected(v[test], gold[test], ns) for k, v in rules.items()}
    same_picks = {
        "fixed sigma vs mean (scalar)": bool(np.array_equal(np.argsort(-rules["scalar: fixed sigma quantile"], 1,
                                                                       kind="stable"),
                                                            np.argsort(-ms, 1, kind="stable"))),
        "true noise vs mean (gaussian)": bool(np.array_equal(
            np.argsort(-rules["gaussian: true-noise quantile (s = tau)"], 1, kind="stable"),
            np.argsort(-mg, 1, kind="stable")))}
    boot_idx = rng.integers(0, len(test), size=(args.resamples, len(test)))
    ref = curves["gaussian: mean"]
    sd_gold = float(gold[test].std(axis=1).mean())
    body, res_rules = [], {}
    for k, c in curves.items():
        diff = c[:, -1] - ref[:, -1]
        db = diff[boot_idx].mean(1)
        lo, hi = float(np.quantile(db, 0.025)), float(np.quantile(db, 0.975))
        peak = int(np.argmax(c.mean(0)))
        res_rules[k] = {"q": chosen.get(k), "n1": float(c[:, 0].mean()), "peak_n": int(ns[peak]),
                        "peak": float(c[:, peak].mean()), "at_max": float(c[:, -1].mean()),
                        "diff_vs_gaussian_mean": float(diff.mean()), "diff_ci": [lo, hi],
                        "verdict": "more gold" if lo > 0 else ("less gold" if hi < 0 else "no difference shown"),
                        "curve": c.mean(0).tolist()}
        body.append([k + (f" (q={chosen[k]})" if k in chosen else ""), f"{c[:, 0].mean():.3f}",
                     f"{c[:, peak].mean():.3f} (n={ns[peak]}, {(c[:, peak].mean() - c[:, 0].mean()) / sd_gold:+.2f} SD)",
                     f"{c[:, -1].mean():.3f}", f"{diff.mean():+.3f} [{lo:+.3f}, {hi:+.3f}]",
                     res_rules[k]["verdict"]])
    print(f"\n(1) does the learned s track the annotators' noise? Spearman(s, family temperature) over {2 * n} held-out "
          f"responses (95% CI, clustered by prompt): fine-tuned {rho:+.3f} [{rho_ci[0]:+.3f}, {rho_ci[1]:+.3f}]; "
          f"head on frozen features ({args.head_epochs} epochs) {rho_f:+.3f} [{rho_f_ci[0]:+.3f}, {rho_f_ci[1]:+.3f}]")
    print(table([[f, f"{v['tau']:.2f}", f"{v['mean_s']:.3f}", f"{v['mean_s_frozen']:.3f}", f"{v['mean_abs_dmu']:.3f}"]
                 for f, v in per_fam.items()],
                ["family", "temperature", "mean s (fine-tuned)", "mean s (frozen)", "mean |d mu| (fine-tuned)"]))
    print(f"\n(2) held-out NLL of the labels ({n} pairs), lower is better:")
    print(table([[k, f"{v[0]:.4f} [{v[1][0]:.4f}, {v[1][1]:.4f}]"] for k, v in calib.items()], ["model", "NLL [95% CI]"]))
    print(f"\n(3) best-of-n gold on {len(test)} test prompts x {shape[1]} candidates (q chosen on {args.tune} other "
          f"prompts); gold SD within a prompt {sd_gold:.3f}; vs the Gaussian model's mean rule, paired 95% CI")
    print(table(body, ["rule", "gold n=1", "peak (n*, rise)", f"gold n={shape[1]}", "vs mean [95% CI]", "verdict"]))
    print(f"identical best-of-n picks (rank-equivalent rules): {same_picks}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "command": command_line(), "settings": vars(args), "spearman_s_tau": rho, "spearman_ci": rho_ci,
            "spearman_s_tau_frozen": rho_f, "spearman_ci_frozen": rho_f_ci,
            "per_family": per_fam, "sigma_fixed": sigma_fixed, "calibration_nll": calib, "bon": res_rules,
            "identical_picks": same_picks}, indent=1))


if __name__ == "__main__":
    main()
