"""Simulator speed: wall time to draw N preference pairs (human-like preset), median of a few repeats.

This used to be a 3-second assert in tests/simulate/test_sim_determinism.py, which was flaky on a busy 2-core
machine; it is a benchmark now, printing the figure (and pairs per second) instead of failing.

    .venv/bin/python benchmarks/sim_speed.py --n 10000 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000, help="pairs per run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from rewardlab.simulate import human_like, simulate_pairs

    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        recs = simulate_pairs(args.n, seed=args.seed, config=human_like())
        times.append(time.perf_counter() - t0)
        assert len(recs) == args.n
    med = statistics.median(times)
    print(f"simulate_pairs({args.n:,}, human_like): median {med:.2f} s over {args.repeats} runs "
          f"({args.n / med:,.0f} pairs/s; runs: {', '.join(f'{t:.2f}' for t in times)})")


if __name__ == "__main__":
    main()
