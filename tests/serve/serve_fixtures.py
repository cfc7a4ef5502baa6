"""Fixtures of the server tests: the tiny reward model, in-process servers (uvicorn in a thread on a free
loopback port) and a scorer whose speed and failures the test controls.

Test modules import them (`from serve_fixtures import live_fixture, ...`; the fixture is `live`). This is not a conftest.py: a second module
named `conftest` would shadow the suite's root conftest for the test modules collected after this folder.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import httpx
import numpy as np
import pytest

from rewardlab.scoring import RewardOutput

API_KEY = "test-key"
JSON = {"Content-Type": "application/json"}  # for bodies sent as raw `content=`
WAIT = 20.0  # the longest any test waits for anything


@pytest.fixture(scope="session", name="tiny_scorer")
def tiny_scorer_fixture(tiny_rm):
    """The tiny reward model (a chat-template decoder with prefix sharing), loaded once on the CPU."""
    from rewardlab.scoring import ModelScorer

    return ModelScorer.from_path(tiny_rm, device="cpu")


@pytest.fixture(scope="module", name="live")
def live_fixture(tiny_scorer) -> Iterator:
    """A server of the tiny model with an api key and small limits, shared by a module's tests."""
    from rewardlab.serve import BackgroundServer, ServeSpec, create_app

    spec = ServeSpec(api_key=API_KEY, max_items=8, max_body_bytes=20_000, max_tokens_per_item=600,
                     max_wait_ms=30.0)
    with BackgroundServer(create_app(tiny_scorer, spec)) as server:
        yield server


def http(base_url: str = "", **kwargs) -> httpx.Client:
    """An httpx client for loopback http (verify=False: no TLS context to build, ~0.1 s per client saved)."""
    return httpx.Client(base_url=base_url, timeout=WAIT, verify=False, **kwargs)


@pytest.fixture(scope="module", name="client")
def client_fixture(live) -> Iterator[httpx.Client]:
    """A client of `live` that sends the api key (thread-safe: concurrent tests share it)."""
    with http(live.url, headers={"Authorization": f"Bearer {API_KEY}"}) as c:
        yield c


@pytest.fixture(scope="module", name="anon")
def anon_fixture(live) -> Iterator[httpx.Client]:
    """A client of `live` without the api key."""
    with http(live.url) as c:
        yield c


class GatedScorer:
    """A Scorer whose `score` waits for `gate` (so requests pile up), counts its calls, fails on 'BOOM' and gives
    NaN for 'NAN'; otherwise the reward is the response's length."""

    name = "gated"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.calls = 0

    def score(self, prompts: Sequence, responses: Sequence, progress: bool = True) -> RewardOutput:
        self.calls += 1
        self.entered.set()
        assert self.gate.wait(WAIT), "the test never opened the gate"
        if any("BOOM" in str(r) for r in responses):
            raise RuntimeError("boom: the model fell over")
        return RewardOutput(np.array([np.nan if "NAN" in str(r) else float(len(str(r))) for r in responses]))


@pytest.fixture(name="gated")
def gated_fixture() -> Iterator[GatedScorer]:
    scorer = GatedScorer()
    yield scorer
    scorer.gate.set()  # never leave a server thread waiting
