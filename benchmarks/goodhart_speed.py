"""Goodhart-curve speed: synthetic pools, 1,000 prompts x 1,024 candidates, 20 values of n, 3 selection rules,
200 bootstrap resamples over prompts (targets: 30 s and 2 GiB on 2 cores).

The synthetic proxy is a 5-member ensemble: gold + a heavy-tailed shared error + member noise, so best-of-n
overoptimises. Prints the wall time of `goodhart_curves` (data generation excluded), the process's peak resident
memory (ru_maxrss, everything included) and, with --tracemalloc, the peak of numpy/Python allocations inside the call.

    .venv/bin/python benchmarks/goodhart_speed.py
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np


def n_grid(n_max: int) -> np.ndarray:
    """Powers of two and three times powers of two up to n_max (20 values for n_max = 1024)."""
    grid = {1 << k for k in range(11)} | {3 << k for k in range(9)}
    return np.array(sorted(g for g in grid if g <= n_max))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=1000)
    ap.add_argument("--candidates", type=int, default=1024)
    ap.add_argument("--members", type=int, default=5)
    ap.add_argument("--resamples", type=int, default=200)
    ap.add_argument("--rules", default="mean,lcb:1,min")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tracemalloc", action="store_true", help="also measure the allocation peak (a second run)")
    args = ap.parse_args()

    from rewardlab.optimize import goodhart_curves

    rng = np.random.default_rng(args.seed)
    shape = (args.prompts, args.candidates)
    gold = rng.normal(size=shape)
    shared_error = 0.7 * rng.standard_t(3, size=shape)
    members = (gold + shared_error)[..., None] + 0.5 * rng.normal(size=(*shape, args.members))
    proxy = members.mean(axis=-1)
    ns = n_grid(args.candidates)
    rules = args.rules.split(",")

    def run() -> dict:
        return goodhart_curves(proxy, gold, rules, members=members, ns=ns, n_resamples=args.resamples, seed=0)

    t0 = time.perf_counter()
    res = run()
    wall = time.perf_counter() - t0
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"goodhart_curves: {args.prompts:,} prompts x {args.candidates:,} candidates x {len(ns)} n x "
          f"{len(rules)} rules ({', '.join(rules)}), {len(res['curves'][rules[0]]['tilted']['beta'])} betas, "
          f"{args.resamples} bootstrap resamples")
    print(f"wall time {wall:.2f} s; peak RSS {rss_mib:,.0f} MiB (whole process, inputs included)")
    if args.tracemalloc:
        tracemalloc.start()
        run()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"tracemalloc peak inside the call {peak / 2**20:,.0f} MiB")
    for r in rules:
        bon, til = res["curves"][r]["bon"], res["curves"][r]["tilted"]
        fb, ft = bon["fit"], til["fit"]
        print(f"  {r:>8}: BoN gold n=1 {bon['gold']['estimate'][0]:+.3f} -> max {max(bon['gold']['estimate']):+.3f}"
              f" -> n={bon['n'][-1]} {bon['gold']['estimate'][-1]:+.3f}; Gao bon d* {fb['d_star']}, "
              f"rl d* {ft['d_star']}")


if __name__ == "__main__":
    main()
