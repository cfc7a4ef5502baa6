"""Fixtures of the adapter tests: the tiny reward model loaded once, and a live server of it (uvicorn in a thread,
loopback). Imported by the test modules (not a conftest.py, which would shadow the suite's root conftest)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

WAIT = 30.0


@pytest.fixture(scope="session", name="rm_scorer")
def rm_scorer_fixture(tiny_rm):
    """The tiny reward model (chat template, prefix sharing) as an offline ModelScorer on the CPU."""
    from rewardlab.scoring import ModelScorer

    return ModelScorer.from_path(tiny_rm, device="cpu")


@pytest.fixture(scope="module", name="rm_server")
def rm_server_fixture(rm_scorer) -> Iterator:
    """A server of the tiny reward model."""
    from rewardlab.serve import BackgroundServer, ServeSpec, create_app

    with BackgroundServer(create_app(rm_scorer, ServeSpec(max_wait_ms=10.0))) as server:
        yield server
