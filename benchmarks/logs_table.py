"""Which estimator wins as the randomised experiment grows and the reward/outcome alignment varies (issue 28).

On the semi-synthetic confounded logs of `rewardlab.logs.synthetic` (3 models, true values 0, 0.2, 0.4; OBS choice
driven by an unobserved user factor, confounding term +-0.905), for each cell (EXP size, alignment) and each
estimator: RMSE of the value estimates (over the seeds and the 3 models), 95% CI coverage, and the winner (lowest
RMSE). `alignment` is the correlation between the quality score the outcome models read and the quality that pays.

    .venv/bin/python benchmarks/logs_table.py --seeds 100
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np

from rewardlab.logs.estimators import all_estimates
from rewardlab.logs.spec import ESTIMATORS
from rewardlab.logs.synthetic import generate_arrays


def cell(n_exp: int, alignment: float, seeds: int, n_obs: int, n_sim: int,
         confounding: float = 1.0) -> dict[str, tuple[float, float]]:
    """{estimator: (RMSE, coverage)} over the seeds."""
    err: dict[str, list[np.ndarray]] = {e: [] for e in ESTIMATORS}
    cov: dict[str, list[np.ndarray]] = {e: [] for e in ESTIMATORS}
    for s in range(seeds):
        d, truth = generate_arrays(n_obs=n_obs, n_exp=n_exp, n_sim=n_sim, alignment=alignment,
                                   confounding=confounding, seed=s)
        ests = all_estimates(replace(d, outcome_exp=None, outcome_sim=None), seed=s)
        for e in ESTIMATORS:
            est, half = ests[e].intervals()
            err[e].append(est - truth)
            cov[e].append(np.abs(est - truth) <= half)
    return {e: (float(np.sqrt(np.mean(np.square(err[e])))), float(np.mean(cov[e]))) for e in ESTIMATORS}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--n-obs", type=int, default=20000)
    ap.add_argument("--n-sim", type=int, default=1000)
    ap.add_argument("--exp-sizes", default="60,150,600,3000")
    ap.add_argument("--alignments", default="0.2,0.5,0.8,0.95")
    ap.add_argument("--confounding", type=float, default=1.0, help="gamma: the user factor's effect on the reward")
    args = ap.parse_args()
    sizes = [int(x) for x in args.exp_sizes.split(",")]
    aligns = [float(x) for x in args.alignments.split(",")]
    t0 = time.time()
    short = {"dim": "DiM", "naive_obs": "naive", "direct": "direct", "dr": "DR", "obs_corrected": "OBS+corr"}
    print(f"RMSE (coverage of 95% CIs) over {args.seeds} seeds x 3 models; OBS {args.n_obs} rows, SIM "
          f"{args.n_sim} contexts; confounding {args.confounding}; winner = lowest RMSE\n")
    print("| EXP rows | alignment | " + " | ".join(short[e] for e in ESTIMATORS) + " | winner |")
    print("|---:|---:|" + "---:|" * len(ESTIMATORS) + "---|")
    for n in sizes:
        for a in aligns:
            res = cell(n, a, args.seeds, args.n_obs, args.n_sim, args.confounding)
            win = min(ESTIMATORS, key=lambda e: res[e][0])
            cells = " | ".join(f"{res[e][0]:.3f} ({res[e][1]:.2f})" for e in ESTIMATORS)
            print(f"| {n} | {a} | {cells} | {short[win]} |", flush=True)
    print(f"\n{time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
