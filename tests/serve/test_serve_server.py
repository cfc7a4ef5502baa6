"""run_server's process settings (`rewardlab.serve.server.set_kernel_cache`): oneDNN's CPU kernel cache.

Each new batch shape makes oneDNN compile and keep a kernel (MiniLM's GELU is one), and a server's batch shapes
keep changing, so resident memory grew for as long as the load ran (benchmarks/serve_load.py). The checks run in
a fresh interpreter, where oneDNN has built nothing yet, and read oneDNN's own log of kernel creation
(ONEDNN_VERBOSE=profile_create: "create:cache_hit" or "create:cache_miss")."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from rewardlab.serve import ServeSpec
from rewardlab.serve.server import set_kernel_cache
from rewardlab.serve.spec import KERNEL_CACHE_ENV

PROBE = """
import torch
from rewardlab.serve import ServeSpec
from rewardlab.serve.server import set_kernel_cache
print("in force", set_kernel_cache(ServeSpec({args})), flush=True)
x = torch.randn(3, 13, 1536)
for _ in range(3):
    torch.nn.functional.gelu(x)
"""


def _creations(cache: int | None, env: dict[str, str]) -> tuple[str, list[str]]:
    full = {k: v for k, v in os.environ.items() if k != KERNEL_CACHE_ENV}
    full.update(env, ONEDNN_VERBOSE="profile_create")
    res = subprocess.run([sys.executable, "-c", PROBE.format(args="" if cache is None else f"cpu_kernel_cache={cache}")], capture_output=True, text=True,
                         env=full, timeout=120, check=True)
    out = res.stdout + res.stderr
    events = [w.split(",")[0] for w in out.split("create:")[1:]]
    return out.split("in force ")[1].split()[0], events


def test_the_server_keeps_no_kernels_by_default_and_the_environment_wins() -> None:
    value, events = _creations(None, {})  # ServeSpec()'s default
    assert value == "0"
    assert events == ["cache_miss"] * 3, events  # the same shape three times, compiled each time, kept never
    value, events = _creations(None, {KERNEL_CACHE_ENV: "1024"})
    assert value == "1024"
    assert events == ["cache_miss", "cache_hit", "cache_hit"], events
    value, events = _creations(16, {})
    assert value == "16" and events == ["cache_miss", "cache_hit", "cache_hit"], events


def test_set_kernel_cache_logs_where_the_value_came_from(monkeypatch, caplog) -> None:
    monkeypatch.delenv(KERNEL_CACHE_ENV, raising=False)
    with caplog.at_level(logging.INFO, logger="rewardlab.serve.server"):
        assert set_kernel_cache(ServeSpec(cpu_kernel_cache=8)) == "8"
    assert os.environ[KERNEL_CACHE_ENV] == "8" and "8 entries (--cpu-kernel-cache)" in caplog.text
    monkeypatch.setenv(KERNEL_CACHE_ENV, "64")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="rewardlab.serve.server"):
        assert set_kernel_cache(ServeSpec()) == "64"
    assert f"64 entries ({KERNEL_CACHE_ENV} from the environment)" in caplog.text


def test_the_option_is_validated() -> None:
    from rewardlab.config import ConfigError

    with pytest.raises(ConfigError, match="cpu_kernel_cache must be >= 0"):
        ServeSpec(cpu_kernel_cache=-1)
