"""Iterative updates of a fine-tuned MiniLM reward model inside the optimisation loop (issue 25): how long, and do
they close at least half the gap to optimising gold directly?

Two parts, both through the library's loop (`rewardlab.policy.loop.run`, `--rm-update-every k` with a reward-model
folder: `rewardlab.policy.neural_rm`):

(a) timed: one 200-step GRPO run (16 prompts x 8 samples a step) against a fine-tuned MiniLM proxy (6 layers by
    default) with neural updates every k steps (64 on-policy pairs labelled by the simulated annotator, plus replay):
    wall time against the issue's target (<= 15 minutes on 2 cores), the time spent in updates, the score cache's
    hit rate, the proxy-gold Spearman on the base samples and the gold reached.
(b) seeds: for each seed, three runs of the same budget: against the proxy unmitigated, against the proxy with
    updates, and against gold itself. Final exact gold per condition (95% t-interval over seeds) and the share of
    the gap closed, (updates - proxy) / (gold - proxy), with a paired bootstrap interval over seeds. The verdict
    "closes at least half the gap" needs the interval's lower end >= 0.5. To fit 2 shared cores this part uses a
    truncated MiniLM proxy (`--seed-layers`, 2 by default) and fewer steps (`--seed-steps`); the printout says so.

Proxies are trained here with `rewardlab train` on simulator pairs labelled by the human-like annotator (length,
agreement and formatting biases, label noise), cached under --cache; `--proxy PATH` / `--seed-proxy PATH` use an
existing checkpoint instead (e.g. a member of benchmarks/pessimism_fair.py's ensembles).

Full run (the lead's timed run, in a quiet window):

    OMP_NUM_THREADS=2 nice -n 10 .venv/bin/python benchmarks/iterative_neural.py --cache /tmp/itn \\
        --json /tmp/itn/iterative_neural.json

Estimated (not measured) on 2 quiet cores: about an hour in all (two proxies trained, the timed run, 15 runs of the
seeds part, 10 of them against the proxy). A reduced smoke run (minutes):

    .venv/bin/python benchmarks/iterative_neural.py --cache /tmp/itn-smoke --train-pairs 96 --layers 1 \\
        --steps 6 --every 3 --seeds 2 --seed-steps 4 --seed-every 2 --seed-layers 1 --update-steps 2
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import command_line, machine, table  # noqa: E402


def train_proxy(cache: Path, layers: int, args: argparse.Namespace) -> str:
    """A MiniLM reward model (first `layers` layers) fine-tuned on human-like simulator pairs (reused when cached)."""
    from rewardlab.train.config import TrainConfig
    from rewardlab.train.trainer import train

    out = cache / f"proxy-minilm{layers}-n{args.train_pairs}-s{args.proxy_seed}"
    if (out / "rewardlab.json").exists():
        return str(out)
    t0 = time.perf_counter()
    res = train(TrainConfig.from_options(
        model="minilm", num_layers=layers, sim_n=args.train_pairs, sim_eval_n=args.eval_pairs, sim_preset="human_like",
        sim_seed=args.proxy_seed, epochs=args.epochs, lr=args.proxy_lr, batch_size=16, max_length=args.max_length,
        output=str(out), progress=False, logging_steps=100_000, seed=args.proxy_seed))
    acc = res.metrics.get("accuracy")
    print(f"proxy {out.name}: trained in {time.perf_counter() - t0:.0f} s, held-out accuracy {acc:.3f}", flush=True)
    return str(out)


def one_run(cache: Path, name: str, reward: str, steps: int, every: int, seed: int, args: argparse.Namespace
            ) -> dict[str, Any]:
    """One optimisation run; its final / peak gold, proxy-gold Spearman, time and update figures."""
    from rewardlab.policy.loop import OptimizeSpec, run

    spec = OptimizeSpec(reward=reward, output=str(cache / "runs" / name), steps=steps, lr=args.lr, seed=seed,
                        kl_beta=args.kl_beta, rm_update_every=every, rm_update_pairs=args.update_pairs,
                        rm_update_steps=args.update_steps, rm_update_lr=args.update_lr,
                        rm_update_batch=args.update_batch, rm_replay=args.replay, rm_annotator="human_like",
                        checkpoint_every=max(1, min(steps, 20)), overwrite=True, plot=False,
                        bf16=args.bf16 and reward != "gold")
    t0 = time.perf_counter()
    res = run(spec)
    wall = time.perf_counter() - t0
    ups = [m for u in res.rm_updates for m in u["members"]]
    out = {"name": name, "reward": reward, "seed": seed, "steps": steps, "every": every, "wall_s": wall,
           "final_gold": res.final["gold"], "peak_gold": res.sweet_spot["gold"], "peak_step": res.sweet_spot["step"],
           "final_kl": res.final["kl"], "base_gold": res.records[0]["gold"],
           "proxy_gold_spearman": res.proxy_gold_spearman, "cache": res.cache,
           "updates": len(res.rm_updates), "update_s": float(sum(m.get("seconds", 0.0) for m in ups)),
           "gold_agreement": [[u["step"], u["gold_agreement_before"], u["gold_agreement_after"]]
                              for u in res.rm_updates]}
    print(f"  {name}: final gold {out['final_gold']:.3f} (peak {out['peak_gold']:.3f} at step {out['peak_step']}), "
          f"KL {out['final_kl']:.2f}, {wall:.0f} s ({out['update_s']:.0f} s in {out['updates']} updates)",
          flush=True)
    return out


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def t_interval(x: np.ndarray) -> tuple[float, float]:
    """Mean and half-width of the 95% t-interval (nan half-width for one value)."""
    from scipy.stats import t

    if len(x) < 2:
        return float(np.mean(x)), float("nan")
    return float(np.mean(x)), float(t.ppf(0.975, len(x) - 1) * np.std(x, ddof=1) / np.sqrt(len(x)))


def gap_closed(proxy: np.ndarray, updated: np.ndarray, gold: np.ndarray, resamples: int, seed: int
               ) -> tuple[float, float, float]:
    """(updated - proxy) / (gold - proxy) of the seed means, with a paired bootstrap 95% interval over seeds."""
    def ratio(idx: np.ndarray) -> float:
        den = gold[idx].mean() - proxy[idx].mean()
        return float((updated[idx].mean() - proxy[idx].mean()) / den) if den != 0 else float("nan")

    n = len(proxy)
    point = ratio(np.arange(n))
    rng = np.random.default_rng(seed)
    boot = np.array([ratio(rng.integers(0, n, n)) for _ in range(resamples)])
    boot = boot[np.isfinite(boot)]
    if not len(boot):
        return point, float("nan"), float("nan")
    return point, float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", required=True, help="folder for the proxies and the runs")
    ap.add_argument("--json", default=None, help="write the summary here")
    ap.add_argument("--part", choices=("both", "timed", "seeds"), default="both")
    # proxies
    ap.add_argument("--proxy", default=None, help="checkpoint of the timed part (default: train MiniLM --layers)")
    ap.add_argument("--seed-proxy", default=None, help="checkpoint of the seeds part (default: train --seed-layers)")
    ap.add_argument("--layers", type=int, default=6, help="MiniLM layers of the timed part's proxy")
    ap.add_argument("--seed-layers", type=int, default=2, help="MiniLM layers of the seeds part's proxy")
    ap.add_argument("--train-pairs", type=int, default=2000, help="human-like simulator pairs per proxy")
    ap.add_argument("--eval-pairs", type=int, default=300)
    ap.add_argument("--epochs", type=float, default=2.0, help="proxy training passes (benchmarks/pessimism_fair.py's)")
    ap.add_argument("--proxy-lr", type=float, default=2e-4)
    ap.add_argument("--max-length", type=int, default=160)
    ap.add_argument("--proxy-seed", type=int, default=0)
    # optimisation
    ap.add_argument("--steps", type=int, default=200, help="GRPO steps of the timed run")
    ap.add_argument("--every", type=int, default=20, help="update the proxy every this many steps (timed run)")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--seed-steps", type=int, default=60, help="GRPO steps of each run of the seeds part")
    ap.add_argument("--seed-every", type=int, default=10, help="update every this many steps (seeds part)")
    ap.add_argument("--lr", type=float, default=1.0, help="GRPO step size")
    ap.add_argument("--kl-beta", type=float, default=0.0)
    ap.add_argument("--update-pairs", type=int, default=64)
    ap.add_argument("--update-steps", type=int, default=20, help="AdamW steps per update (the option's default is "
                    "30; 20 keeps the timed run's updates near half its budget on 2 cores)")
    ap.add_argument("--update-lr", type=float, default=2e-5)
    ap.add_argument("--update-batch", type=int, default=16)
    ap.add_argument("--replay", type=int, default=256)
    ap.add_argument("--bf16", action="store_true", help="score the proxy under bf16 autocast (optimize --bf16; "
                    "updates train in fp32)")
    ap.add_argument("--target-s", type=float, default=900.0, help="the timed run's target (issue 25: 15 minutes)")
    ap.add_argument("--resamples", type=int, default=2000)
    args = ap.parse_args()
    import torch

    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    print(f"command: {command_line()}")
    print(f"machine: {json.dumps(machine())}", flush=True)
    torch.manual_seed(0)
    summary: dict[str, Any] = {"command": command_line(), "machine": machine(), "settings": vars(args)}
    t_all = time.perf_counter()

    if args.part in ("both", "timed"):
        proxy = args.proxy or train_proxy(cache, args.layers, args)
        print(f"\n(a) timed: {args.steps} GRPO steps against {proxy}, neural updates every {args.every} steps",
              flush=True)
        timed = one_run(cache, "timed", proxy, args.steps, args.every, 0, args)
        c = timed["cache"]
        timed["verdict"] = "met" if timed["wall_s"] <= args.target_s else "missed"
        summary["timed"] = timed
        print(f"(a) {args.steps} steps with {timed['updates']} updates in {timed['wall_s']:.0f} s "
              f"({timed['update_s']:.0f} s updating; target <= {args.target_s:.0f} s: {timed['verdict']}); score "
              f"cache {c.get('hits', 0):,} hits / {c.get('misses', 0):,} texts scored "
              f"({(c.get('hit_rate') or 0):.1%} saved); proxy-gold Spearman on the base samples "
              f"{_fmt(timed['proxy_gold_spearman'])}; gold {timed['base_gold']:.3f} -> {timed['final_gold']:.3f} "
              f"(peak {timed['peak_gold']:.3f} at step {timed['peak_step']})",
              flush=True)

    if args.part in ("both", "seeds"):
        proxy = args.seed_proxy or train_proxy(cache, args.seed_layers, args)
        print(f"\n(b) seeds: {args.seeds} seeds x {args.seed_steps} GRPO steps; proxy {proxy} (MiniLM truncated to "
              f"fit 2 cores unless --seed-proxy says otherwise); updates every {args.seed_every} steps", flush=True)
        runs: dict[str, list[dict[str, Any]]] = {"proxy": [], "proxy + updates": [], "gold": []}
        for s in range(args.seeds):
            runs["proxy"].append(one_run(cache, f"proxy-s{s}", proxy, args.seed_steps, 0, s, args))
            runs["proxy + updates"].append(one_run(cache, f"updates-s{s}", proxy, args.seed_steps, args.seed_every,
                                                   s, args))
            runs["gold"].append(one_run(cache, f"gold-s{s}", "gold", args.seed_steps, 0, s, args))
        final = {k: np.array([r["final_gold"] for r in v]) for k, v in runs.items()}
        peak = {k: np.array([r["peak_gold"] for r in v]) for k, v in runs.items()}
        rows = []
        for k, v in runs.items():
            m, h = t_interval(final[k])
            pm, ph = t_interval(peak[k])
            rows.append([k, f"{v[0]['base_gold']:.3f}", f"{m:.3f} +- {h:.3f}", f"{pm:.3f} +- {ph:.3f}",
                         f"{np.mean([r['final_kl'] for r in v]):.2f}", f"{np.mean([r['wall_s'] for r in v]):.0f}"])
        print()
        print(table(rows, ["condition", "gold@0", "final gold", "peak gold", "final KL", "s per run"]))
        diff = final["proxy + updates"] - final["proxy"]
        dm, dh = t_interval(diff)
        share, lo, hi = gap_closed(final["proxy"], final["proxy + updates"], final["gold"], args.resamples, 0)
        verdict = ("too few seeds for a verdict (3 or more)" if args.seeds < 3 else
                   "closes at least half the gap" if lo >= 0.5 else
                   "closes less than half the gap" if hi < 0.5 else "not shown either way")
        rho = [r["proxy_gold_spearman"] for r in runs["proxy"] if r["proxy_gold_spearman"] is not None]
        print(f"\nupdates minus unmitigated proxy, final gold: {dm:+.3f} +- {dh:.3f} (paired by seed)")
        print(f"share of the gap to optimising gold closed: {share:.2f} [{lo:.2f}, {hi:.2f}] (paired bootstrap over "
              f"{args.seeds} seeds): {verdict}")
        near = " (near chance: the proxy barely sees gold, so no rise and no gap to close are expected)"
        print(f"proxy-gold Spearman on the base samples: {np.mean(rho):.3f} (mean over seeds)"
              f"{near if abs(np.mean(rho)) < 0.1 else ''}" if rho else "proxy-gold Spearman: n/a")
        summary["seeds"] = {"runs": runs, "updates_minus_proxy": [dm, dh], "gap_closed": [share, lo, hi],
                            "verdict": verdict, "proxy": proxy}
    print(f"\ntotal {time.perf_counter() - t_all:.0f} s")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(summary, indent=1, default=str))


if __name__ == "__main__":
    main()
