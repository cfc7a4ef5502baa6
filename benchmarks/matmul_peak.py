"""Measured matmul peak of this machine (fp32 and bf16), the denominator of every MFU figure.

Square torch.matmul at a few sizes, all torch threads, best of several timed repeats (the machine is shared, so the
best repeat is the closest to the hardware's capability). Writes the result to the bench cache so the throughput
scripts compute MFU against it.

    .venv/bin/python benchmarks/matmul_peak.py
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CACHE, command_line, machine, table  # noqa: E402


def gflops(n: int, dtype: torch.dtype, repeats: int, min_time: float = 0.3) -> float:
    a = torch.randn(n, n).to(dtype)
    b = torch.randn(n, n).to(dtype)
    torch.matmul(a, b)  # warm up
    best = 0.0
    for _ in range(repeats):
        k, t0 = 0, time.perf_counter()
        while True:
            torch.matmul(a, b)
            k += 1
            dt = time.perf_counter() - t0
            if dt >= min_time:
                break
        best = max(best, 2 * n**3 * k / dt / 1e9)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="512,1024,2048")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows, peak = [], {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        vals = [gflops(n, dtype, args.repeats) for n in sizes]
        peak[name] = max(vals)
        rows.append([name, *[f"{v:.0f}" for v in vals], f"{peak[name]:.0f}"])
    print(f"machine: {json.dumps(machine())}")
    print(table(rows, ["dtype", *[f"n={n}" for n in sizes], "peak GFLOP/s"]))
    print(f"command: {command_line()}")
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / "matmul_peak.json").write_text(json.dumps(peak))


if __name__ == "__main__":
    main()
