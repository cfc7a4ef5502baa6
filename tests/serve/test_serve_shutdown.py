"""Graceful shutdown: SIGTERM to a real `run_server` process while requests are in flight; they complete, new
ones are refused, the process exits. And the draining state seen from inside (503 + Retry-After, not ready)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from serve_fixtures import WAIT, gated_fixture, http  # noqa: F401  (fixtures)

HELPER = Path(__file__).with_name("slow_server.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sigterm_finishes_requests_in_flight():
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, str(HELPER), str(port), "1.0"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    c = http(url)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the server did not start"
            try:
                if c.get("/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        answers: dict[int, httpx.Response] = {}

        def ask(i: int) -> None:
            answers[i] = c.post("/v1/rewards", json={"items": [{"prompt": "p", "response": "r" * i}]})

        threads = [threading.Thread(target=ask, args=(i,)) for i in (1, 2, 3)]
        for t in threads:
            t.start()
        while "rewardlab_requests_in_flight 3.0" not in c.get("/metrics").text:
            assert time.monotonic() < deadline, "the requests never reached the server"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(WAIT)
        assert {i: (a.status_code, a.json()["results"][0]["reward"]) for i, a in answers.items()} == {
            1: (200, 1.0), 2: (200, 2.0), 3: (200, 3.0)}
        try:  # the listener is closed: refused (or, if it slipped in, told to come back)
            late = c.post("/v1/rewards", json={"items": [{"prompt": "p", "response": "r"}]}, timeout=5)
            assert late.status_code == 503
        except httpx.TransportError:
            pass
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it is done
    finally:
        c.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_draining_refuses_new_requests(gated):
    from rewardlab.serve import BackgroundServer, create_app

    with BackgroundServer(create_app(gated)) as server, http(server.url) as c:
        assert c.get("/ready").status_code == 200
        server.app.state.server.engine.draining = True  # what SIGTERM sets first
        r = c.post("/v1/rewards", json={"items": [{"prompt": "p", "response": "r"}]})
        assert r.status_code == 503 and r.headers["retry-after"] and "shutting down" in r.json()["detail"]
        assert c.get("/ready").status_code == 503
        assert c.get("/health").status_code == 200
