"""Helpers shared by the benchmark scripts: backbones, data, machine facts, peak-memory sampling, medians."""

from __future__ import annotations

import json
import os
import platform
import shlex
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HH_FILE = ROOT.parent / "shared" / "data" / "hh-rlhf-harmless-base-test.jsonl.gz"
CACHE = Path(os.environ.get("REWARDLAB_BENCH_CACHE", "/tmp/rewardlab-bench"))

# A Llama-shaped decoder from a config (random weights), ~48M parameters: 10 layers, hidden 640, GQA 10/5 heads.
LLAMA_SMALL = {"hidden_size": 640, "intermediate_size": 1792, "num_hidden_layers": 10, "num_attention_heads": 10,
               "num_key_value_heads": 5}

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def backbone_path(name: str) -> str:
    """'minilm' (the shipped MiniLM-L6), 'llama-small' (built once into the cache folder) or any folder."""
    if name == "minilm":
        from rewardlab.models.backbone import resolve_model_path

        return resolve_model_path("minilm")
    if name == "llama-small":
        path = CACHE / "llama-small-48m"
        if not (path / "config.json").exists():
            from rewardlab.models.tiny import build_tiny_decoder

            build_tiny_decoder(str(path), size="small", **LLAMA_SMALL)
        return str(path)
    if name == "llama-tiny":
        path = CACHE / "llama-tiny"
        if not (path / "config.json").exists():
            from rewardlab.models.tiny import build_tiny_decoder

            build_tiny_decoder(str(path), size="tiny")
        return str(path)
    return name


def load_bench_pairs(data: str, n_sim: int = 2400, seed: int = 0) -> list[Any]:
    """Preference pairs: 'hh' (the shared HH-RLHF file), 'sim' (simulator pairs) or a file path."""
    from rewardlab.data import load_pairs

    if data == "sim":
        from rewardlab.data.formats import detect_spec, parse_pair
        from rewardlab.simulate import simulate_pairs

        rows = simulate_pairs(n_sim, seed=seed)
        spec = detect_spec(rows[0])
        return [parse_pair(r, spec) for r in rows]
    path = str(HH_FILE) if data == "hh" else data
    return load_pairs(path).records


def machine() -> dict[str, Any]:
    """CPU model, cores, memory, library versions."""
    import torch
    import transformers

    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = ""
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags"))
    except (OSError, StopIteration):
        pass
    mem = 0
    try:
        mem = int(next(line for line in open("/proc/meminfo") if line.startswith("MemTotal")).split()[1]) // 1024
    except (OSError, StopIteration):
        pass
    info = {"cpu": cpu, "nproc": os.cpu_count(), "torch_threads": torch.get_num_threads(), "mem_mib": mem,
            "amx": "amx_bf16" in flags, "avx512_bf16": "avx512_bf16" in flags, "python": platform.python_version(),
            "torch": torch.__version__, "transformers": transformers.__version__}
    try:
        import trl

        info["trl"] = trl.__version__
    except ImportError:
        pass
    return info


def rss_mib() -> float:
    """Resident memory of this process (MiB)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class PeakMemory:
    """Samples this process's RSS every few ms between start() and stop(): peak and starting value (MiB)."""

    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.start_mib = 0.0
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_mib = max(self.peak_mib, rss_mib())
            time.sleep(self.interval)

    def start(self) -> None:
        self.start_mib = self.peak_mib = rss_mib()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.peak_mib = max(self.peak_mib, rss_mib())


def median(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def command_line() -> str:
    """The exact command that is running, for the printed report."""
    return ".venv/bin/python " + " ".join(shlex.quote(a) for a in [os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]])


def emit(obj: dict[str, Any]) -> None:
    """Worker result: one JSON line on stdout, marked so the parent can find it among library noise."""
    print("@@RESULT@@" + json.dumps(obj), flush=True)


def parse_result(stdout: str) -> dict[str, Any]:
    for line in reversed(stdout.splitlines()):
        if line.startswith("@@RESULT@@"):
            return json.loads(line[len("@@RESULT@@"):])
    raise RuntimeError("worker printed no result:\n" + stdout[-3000:])


def table(rows: list[list[Any]], header: list[str]) -> str:
    """A plain fixed-width table."""
    cells = [[str(c) for c in header]] + [[c if isinstance(c, str) else f"{c:,.4g}" if isinstance(c, float) else str(c)
                                           for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def add_run_args(ap: Any) -> None:
    """The options every cached-feature benchmark takes: --resamples, --seed, --cache, --json."""
    ap.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples behind each 95%% CI")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default=None, help="folder for the feature arrays (reruns skip the encoder)")
    ap.add_argument("--json", default=None, help="write the summary here")


def start_run(args: Any) -> Any:
    """Print the command and the machine, seed torch; returns the --cache folder as a Path (or None)."""
    from pathlib import Path

    import torch

    print(f"command: {command_line()}")
    print(f"machine: {json.dumps(machine())}")
    torch.manual_seed(args.seed)
    return Path(args.cache) if args.cache else None
