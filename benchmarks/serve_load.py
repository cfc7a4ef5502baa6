"""Reward-server load test: rewardlab's server against a per-request baseline and against offline scoring.

Workload: `--requests` distinct (prompt, response) pairs from the preference simulator, one pair per request,
sent by `--clients` concurrent clients (asyncio + httpx, in this process; each client sends its next request as
soon as its last one is answered). Both servers run in their own process on loopback, load the same checkpoint
and score with the same code (`ModelScorer.score`):

- rewardlab: `rewardlab.serve.run_server` (requests queued, batched across requests by token budget, one model
  thread off the event loop);
- baseline: OpenRLHF serve_rm's design rebuilt here: a FastAPI app whose async handler runs each request's
  forward pass synchronously (`ModelScorer.score` on that request's item), so requests are served one at a time.

The three (rewardlab, baseline, and offline `ModelScorer.score` on the same items in this process, the
`rewardlab score` path) run interleaved: the requests are cut into rounds and each round runs on each system in
turn, so changes in machine load fall on all three alike. Reported: throughput (requests/s; items/s offline),
p50 / p99 latency, errors, the rewardlab server's resident memory after warm-up, half-way and at the end (growth
%), its mean requests per model batch, the largest reward difference between the systems, and an overload run:
`--overload-clients` clients against `--max-queue` (share of 503s, whether every request got either 200 or 503
with Retry-After, none hung or 500). A JSON summary is printed last (and written to --json).

Default model: a MiniLM reward model (the shipped MiniLM-L6 backbone with a fresh scalar head, saved once to the
cache folder; its rewards mean nothing, its compute is a real reward model's). Any checkpoint: --model PATH.

    .venv/bin/python benchmarks/serve_load.py --clients 64 --requests 1000
    .venv/bin/python benchmarks/serve_load.py --clients 64 --requests 200          # a quick check
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from fastapi import (  # at module level: FastAPI resolves the handler's string annotations here
    FastAPI,
    Request,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CACHE, command_line, machine  # noqa: E402

HERE = Path(__file__).resolve()
CLIENT_TIMEOUT = 120.0  # a request unanswered this long counts as hung


# ---------------------------------------------------------------------------------------------- model and data


def default_model() -> str:
    """A MiniLM reward model (fresh scalar head) saved once to the cache folder."""
    path = CACHE / "minilm-rm"
    if not (path / "rewardlab.json").exists():
        from rewardlab.models import build_reward_model
        from rewardlab.models.checkpoint import save_checkpoint

        save_checkpoint(build_reward_model("minilm", seed=0), str(path))
    return str(path)


def workload(n: int, seed: int = 1) -> list[tuple[str, str]]:
    """n distinct (prompt, response) pairs from the simulator (chosen, then rejected responses)."""
    from rewardlab.simulate import simulate_pairs

    rows = simulate_pairs((n + 1) // 2, seed=seed)
    items = [(r["prompt"], r[k]) for k in ("chosen", "rejected") for r in rows]
    return items[:n]


# ---------------------------------------------------------------------------------------------- the servers


def serve_baseline(model: str, port: int, threads: int | None) -> None:
    """OpenRLHF serve_rm's design: the forward pass runs synchronously inside the async handler."""
    import torch
    import uvicorn

    if threads:
        torch.set_num_threads(threads)
    from rewardlab.scoring import ModelScorer

    scorer = ModelScorer.from_path(model, device="cpu")
    app = FastAPI()

    @app.post("/v1/rewards")
    async def rewards(request: Request) -> dict[str, Any]:
        body = await request.json()
        items = body["items"]
        out = scorer.score([it["prompt"] for it in items], [it["response"] for it in items], progress=False)
        return {"results": [{"index": i, "reward": float(r)} for i, r in enumerate(out.mean)]}

    @app.get("/ready")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def serve_rewardlab(model: str, port: int, max_queue: int, max_batch_tokens: int, max_wait_ms: float,
                    threads: int | None, settings: dict[str, str] | None = None) -> None:
    from rewardlab.scoring import ModelScorer
    from rewardlab.serve import ServeSpec, run_server

    scorer = ModelScorer.from_path(model, device="cpu", token_budget=max_batch_tokens)
    spec = ServeSpec(port=port, max_queue=max_queue, max_batch_tokens=max_batch_tokens, max_wait_ms=max_wait_ms,
                     timeout_s=CLIENT_TIMEOUT, cpu_threads=threads)
    run_server(scorer, spec.with_overrides(settings or {}, "--server-set"), log_level="info")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """One server in its own process, started and stopped by the benchmark."""

    def __init__(self, kind: str, args: argparse.Namespace, max_queue: int):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, str(HERE), "--_serve", kind, "--model", args.model, "--_port", str(self.port),
               "--max-queue", str(max_queue), "--max-batch-tokens", str(args.max_batch_tokens),
               "--max-wait-ms", str(args.max_wait_ms)]
        if args.server_threads:
            cmd += ["--server-threads", str(args.server_threads)]
        for setting in args.server_set:
            cmd += ["--server-set", setting]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def wait_ready(self, timeout: float = 180.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stderr.read().decode()[-3000:]}")
            try:
                if httpx.get(self.url + "/ready", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server did not become ready")

    def rss_mib(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def metrics(self) -> str:
        import httpx

        try:
            return httpx.get(self.url + "/metrics", timeout=10).text
        except httpx.TransportError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


# ---------------------------------------------------------------------------------------------- load


async def _load(url: str, items: list[tuple[str, str]], clients: int, offset: int = 0) -> dict[str, Any]:
    """Send every item once, `clients` at a time; latency, status and Retry-After of each request (`i`: the
    item's position plus `offset`)."""
    import httpx

    queue = list(range(len(items)))
    records: list[dict[str, Any]] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=CLIENT_TIMEOUT, limits=limits, verify=False) as http:

        async def client() -> None:
            while queue:
                i = queue.pop()
                p, r = items[i]
                t0 = time.perf_counter()
                rec: dict[str, Any] = {"i": offset + i}
                try:
                    resp = await http.post("/v1/rewards", json={"items": [{"prompt": p, "response": r}]})
                    rec["status"] = resp.status_code
                    rec["retry_after"] = resp.headers.get("retry-after")
                    if resp.status_code == 200:
                        rec["reward"] = resp.json()["results"][0]["reward"]
                except httpx.TimeoutException:
                    rec["status"] = "hung"
                except httpx.HTTPError as e:
                    rec["status"] = f"error:{type(e).__name__}"
                rec["latency"] = time.perf_counter() - t0
                records.append(rec)

        t0 = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        wall = time.perf_counter() - t0
    return {"records": records, "wall": wall}


def load(url: str, items: list[tuple[str, str]], clients: int, offset: int = 0) -> dict[str, Any]:
    return asyncio.run(_load(url, items, clients, offset))


def percentile(xs: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(xs, q)) if xs else float("nan")


def summarize(run: dict[str, Any]) -> dict[str, Any]:
    recs = run["records"]
    ok = [r for r in recs if r["status"] == 200]
    lat = [r["latency"] for r in ok]
    return {"requests": len(recs), "ok": len(ok), "errors": len(recs) - len(ok), "seconds": round(run["wall"], 2),
            "throughput_rps": round(len(ok) / run["wall"], 2), "p50_ms": round(1000 * percentile(lat, 50), 1),
            "p99_ms": round(1000 * percentile(lat, 99), 1)}


def _metric_sum(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return float("nan")


def measure_interleaved(args: argparse.Namespace, items: list[tuple[str, str]], warm: list[tuple[str, str]],
                        skip: set[str]) -> dict[str, Any]:
    """rewardlab, baseline and offline scoring on the same items, interleaved: the items are cut into rounds and
    every round runs on each system in turn (order rotating), so a change in machine load (this machine is
    shared) falls on all three alike. Each server is warmed up first; the rewardlab server's resident memory is
    read after the warm-up, half-way and at the end."""
    from rewardlab.scoring import ModelScorer

    names = [n for n in ("rewardlab", "baseline", "offline") if n not in skip]
    servers = {n: ServerProcess(n, args, max_queue=max(args.max_queue_normal, 2 * args.clients))
               for n in names if n != "offline"}
    out: dict[str, Any] = {}
    try:
        for srv in servers.values():
            srv.wait_ready()
        for n, srv in servers.items():  # warm-up: allocator, tokenizer and kernel caches; the rewardlab server
            # gets the long one (its memory is measured after it), the baseline 2 x clients (for its throughput)
            load(srv.url, warm if n == "rewardlab" else warm[: 2 * args.clients], args.clients)
        scorer = None
        if "offline" in names:
            scorer = ModelScorer.from_path(args.model, device="cpu", token_budget=args.max_batch_tokens)
            scorer.score([p for p, _ in warm[: 2 * args.clients]], [r for _, r in warm[: 2 * args.clients]],
                         progress=False)
        rss: list[float] = [servers["rewardlab"].rss_mib()] if "rewardlab" in servers else []
        size = args.round_size or max(2 * args.clients, -(-len(items) // 4))
        rounds = [(k, items[k : k + size]) for k in range(0, len(items), size)]
        runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
        off_rewards: dict[int, float] = {}
        for j, (k, chunk) in enumerate(rounds):
            for n in names[j % len(names):] + names[: j % len(names)]:
                if n == "offline":
                    t0 = time.perf_counter()
                    res = scorer.score([p for p, _ in chunk], [r for _, r in chunk], progress=False)
                    runs[n].append({"wall": time.perf_counter() - t0})
                    off_rewards.update({k + i: float(v) for i, v in enumerate(res.mean)})
                else:
                    runs[n].append(load(servers[n].url, chunk, args.clients, offset=k))
            if "rewardlab" in servers and j == (len(rounds) - 1) // 2:
                rss.append(servers["rewardlab"].rss_mib())
        if "rewardlab" in servers:
            rss.append(servers["rewardlab"].rss_mib())
            text = servers["rewardlab"].metrics()
            n_b = _metric_sum(text, "rewardlab_batch_requests_count")
            n_r = _metric_sum(text, "rewardlab_batch_requests_sum")
        for n in names:
            if n == "offline":
                wall = sum(r["wall"] for r in runs[n])
                out[n] = {"items": len(items), "seconds": round(wall, 2),
                          "throughput_items_per_s": round(len(items) / wall, 2), "rewards": off_rewards}
                continue
            run = {"records": [x for r in runs[n] for x in r["records"]], "wall": sum(r["wall"] for r in runs[n])}
            out[n] = summarize(run)
            out[n]["rewards"] = {r["i"]: r["reward"] for r in run["records"] if r["status"] == 200}
        if "rewardlab" in servers:
            out["rewardlab"].update({
                "rss_after_warmup_mib": round(rss[0], 1), "rss_half_mib": round(rss[1], 1),
                "rss_end_mib": round(rss[-1], 1), "rss_growth_pct": round(100 * (rss[-1] - rss[0]) / rss[0], 2),
                "mean_requests_per_batch": round(n_r / n_b, 2) if n_b else None})
        out["rounds"] = len(rounds)
        return out
    finally:
        for srv in servers.values():
            srv.stop()


def measure_overload(args: argparse.Namespace, items: list[tuple[str, str]]) -> dict[str, Any]:
    server = ServerProcess("rewardlab", args, max_queue=args.max_queue)
    try:
        server.wait_ready()
        n = args.overload_requests or max(len(items), 4 * args.overload_clients)
        run = load(server.url, (items * (n // len(items) + 1))[:n], args.overload_clients)
    finally:
        server.stop()
    recs = run["records"]
    by: dict[str, int] = {}
    for r in recs:
        by[str(r["status"])] = by.get(str(r["status"]), 0) + 1
    n503 = [r for r in recs if r["status"] == 503]
    with_ra = sum(1 for r in n503 if r["retry_after"] and r["retry_after"].isdigit())
    ok_or_503 = all(r["status"] == 200 or (r["status"] == 503 and r["retry_after"]) for r in recs)
    lat = [r["latency"] for r in recs if r["status"] == 200]
    return {"clients": args.overload_clients, "max_queue": args.max_queue, "requests": len(recs),
            "status_counts": by, "share_503": round(len(n503) / len(recs), 4), "503_with_retry_after": with_ra,
            "every_request_200_or_503_with_retry_after": ok_or_503,
            "n_500": sum(1 for r in recs if r["status"] == 500), "n_hung": by.get("hung", 0),
            "seconds": round(run["wall"], 2), "ok_throughput_rps": round(sum(r["status"] == 200 for r in recs)
                                                                         / run["wall"], 2),
            "ok_p50_ms": round(1000 * percentile(lat, 50), 1), "ok_p99_ms": round(1000 * percentile(lat, 99), 1)}


# ---------------------------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--model", default=None, help="Checkpoint (default: a MiniLM reward model, built once).")
    ap.add_argument("--warmup", type=int, default=None, help="Warm-up requests of the rewardlab server "
                    "(default: the larger of 4 x --clients and 256: its memory grows while its allocator and kernel "
                    "caches meet new batch shapes, then stays flat); the baseline gets 2 x --clients.")
    ap.add_argument("--max-batch-tokens", type=int, default=16384)
    ap.add_argument("--max-wait-ms", type=float, default=5.0)
    ap.add_argument("--max-queue", type=int, default=64, help="The overload run's queue bound.")
    ap.add_argument("--max-queue-normal", type=int, default=256, help="Queue bound of the normal runs (at least "
                    "2 x clients, so they measure batching, not refusals).")
    ap.add_argument("--overload-clients", type=int, default=256)
    ap.add_argument("--overload-requests", type=int, default=None, help="Requests of the overload run (default: "
                    "the larger of --requests and 4 x --overload-clients).")
    ap.add_argument("--server-threads", type=int, default=None, help="torch CPU threads of both servers and of "
                    "the offline scoring (default: torch's, one per core).")
    ap.add_argument("--round-size", type=int, default=None, help="Requests per interleaved round (default: the "
                    "larger of 2 x clients and a quarter of --requests).")
    ap.add_argument("--skip", default="", help="Comma-separated parts to skip: rewardlab, baseline, offline, "
                    "overload.")
    ap.add_argument("--json", default=None, help="Also write the summary here.")
    ap.add_argument("--server-set", action="append", default=[], help="A ServeSpec setting of the rewardlab "
                    "server, KEY=VALUE (repeatable), e.g. request_read_timeout_s=60.")
    ap.add_argument("--_serve", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--_port", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    if args._serve == "baseline":
        serve_baseline(args.model, args._port, args.server_threads)
        return
    if args._serve == "rewardlab":
        serve_rewardlab(args.model, args._port, args.max_queue, args.max_batch_tokens, args.max_wait_ms,
                        args.server_threads, dict(s.split("=", 1) for s in args.server_set))
        return
    if args.server_threads:
        import torch

        torch.set_num_threads(args.server_threads)  # offline scoring runs here: the same threads as the servers

    args.model = args.model or default_model()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    items = workload(args.requests)
    warm = workload(args.warmup or max(4 * args.clients, 256), seed=99)
    summary: dict[str, Any] = {"command": command_line(), "machine": machine(), "model": args.model,
                               "clients": args.clients, "requests": args.requests,
                               "max_batch_tokens": args.max_batch_tokens, "max_wait_ms": args.max_wait_ms,
                               "server_threads": args.server_threads, "load_average_at_start": os.getloadavg()}

    parts = [n for n in ("rewardlab", "baseline", "offline") if n not in skip]
    if parts:
        print(f"{args.clients} clients x {args.requests} requests, interleaved: {', '.join(parts)} ...",
              file=sys.stderr, flush=True)
    res = measure_interleaved(args, items, warm, skip) if parts else {"rounds": 0}
    summary["rounds"] = res.pop("rounds")
    rewards = {n: res[n].pop("rewards") for n in res}
    summary.update(res)
    rl = res.get("rewardlab")
    if rl and "baseline" in res:
        summary["speedup_vs_baseline"] = round(rl["throughput_rps"] / res["baseline"]["throughput_rps"], 2)
    if rl and "offline" in res:
        summary["server_vs_offline"] = round(rl["throughput_rps"] / res["offline"]["throughput_items_per_s"], 3)
    for other in ("baseline", "offline"):
        if rl and other in res:
            common = sorted(set(rewards["rewardlab"]) & set(rewards[other]))
            summary[f"max_abs_reward_diff_vs_{other}"] = max(
                (abs(rewards["rewardlab"][i] - rewards[other][i]) for i in common), default=None)
    if "overload" not in skip:
        print(f"overload: {args.overload_clients} clients vs --max-queue {args.max_queue} ...", file=sys.stderr,
              flush=True)
        summary["overload"] = measure_overload(args, items)
    summary["load_average_at_end"] = os.getloadavg()
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
