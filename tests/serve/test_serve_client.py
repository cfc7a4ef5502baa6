"""RewardClient and AsyncRewardClient: equal to offline scoring through a live server; batching; retries on 5xx,
503 (honouring Retry-After), 429 and connection errors; none on other 4xx; least-outstanding balancing over
replicas, and failing over to another replica. Scripted servers are httpx.MockTransport handlers."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import httpx
import numpy as np
import pytest
from serve_fixtures import API_KEY, WAIT, gated_fixture, http, live_fixture, tiny_scorer_fixture  # noqa: F401  (fixtures)

from rewardlab.errors import RewardlabError
from rewardlab.serve import AsyncRewardClient, RewardClient

PROMPTS = ["What is 2+2?", "What is 2+2?", "Name a colour.", "What is the capital of France?", "Say hi."]
RESPONSES = ["4", "5", "Blue.", "Paris.", "Hi!"]


def _ok(request: httpx.Request) -> httpx.Response:
    items = json.loads(request.content)["items"]
    return httpx.Response(200, json={"results": [{"index": i, "reward": float(len(it["response"])), "std": None,
                                                  "members": None} for i, it in enumerate(items)]})


class Script:
    """A scripted server: answers from `plan` in order (a status or an exception class), then _ok; records hosts."""

    def __init__(self, plan=(), per_host=None):
        self.plan = list(plan)
        self.per_host = per_host or {}
        self.hosts: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.hosts.append(request.url.host)
            step = self.per_host.get(request.url.host) or (self.plan.pop(0) if self.plan else None)
        if step is None:
            return _ok(request)
        if step == "html":  # a 200 whose body is not JSON (a proxy's page)
            return httpx.Response(200, text="<html>gateway</html>")
        if isinstance(step, type) and issubclass(step, Exception):
            raise step("scripted failure", request=request)
        status, headers = step if isinstance(step, tuple) else (step, {})
        return httpx.Response(status, headers=headers, json={"detail": f"scripted {status}"})


def _client(script, urls="http://a", **kw):
    kw.setdefault("backoff", 0.001)
    return RewardClient(urls, transport=httpx.MockTransport(script), **kw)


def test_client_equals_offline_through_a_live_server(live, tiny_scorer):
    offline = tiny_scorer.score(PROMPTS, RESPONSES, progress=False).mean
    with RewardClient(live.url + "/v1/rewards", api_key=API_KEY, batch_size=2) as client:
        np.testing.assert_allclose(client.score(PROMPTS, RESPONSES).mean, offline, atol=1e-4)
        res = client.rewards([{"prompt": p, "response": r} for p, r in zip(PROMPTS, RESPONSES, strict=True)])
        assert [r["index"] for r in res] == list(range(5)) and res[0]["n_tokens"] > 0
        assert len(client.info()["render_spec_hash"]) == 16
        assert len(client.score([], []).mean) == 0

    async def run():
        async with AsyncRewardClient(live.url, api_key=API_KEY, batch_size=2) as client:
            return (await client.score(PROMPTS, RESPONSES)).mean

    np.testing.assert_allclose(asyncio.run(run()), offline, atol=1e-4)


def test_retries_5xx_429_and_connection_errors():
    script = Script([500, httpx.ConnectError, 429, httpx.ReadTimeout, 502])
    assert _client(script).score(["p"], ["abc"]).mean.tolist() == [3.0]
    assert len(script.hosts) == 6


def test_a_non_json_answer_is_retried_sync_and_async():
    script = Script(["html"])
    assert _client(script).score(["p"], ["abc"]).mean.tolist() == [3.0] and len(script.hosts) == 2
    with pytest.raises(RewardlabError, match="no answer after 2 attempts: HTTP 200 but not JSON"):
        _client(Script(["html"] * 3), retries=1).score(["p"], ["r"])
    script = Script(["html"])

    async def handler(request):
        return script(request)

    async def run():
        async with AsyncRewardClient("http://a", transport=httpx.MockTransport(handler), backoff=0.001) as client:
            return (await client.score(["p"], ["ab"])).mean.tolist()

    assert asyncio.run(run()) == [2.0] and len(script.hosts) == 2


def test_honours_retry_after_on_503():
    script = Script([(503, {"Retry-After": "0.3"})])
    t0 = time.monotonic()
    assert _client(script, backoff=0.0).score(["p"], ["ab"]).mean.tolist() == [2.0]
    assert time.monotonic() - t0 >= 0.3 and len(script.hosts) == 2


def test_no_retry_on_client_errors_and_a_clear_give_up():
    script = Script([(422, {})])
    with pytest.raises(RewardlabError, match="HTTP 422: scripted 422"):
        _client(script).score(["p"], ["r"])
    assert len(script.hosts) == 1
    script = Script([500] * 10)
    with pytest.raises(RewardlabError, match="no answer after 3 attempts: HTTP 500"):
        _client(script, retries=2).score(["p"], ["r"])
    assert len(script.hosts) == 3


def test_batches_spread_over_replicas_by_least_outstanding():
    gate, inside = threading.Event(), []

    def slow(request):  # both replicas hold their first request until two are in flight
        inside.append(request.url.host)
        if len(inside) <= 2:
            assert gate.wait(WAIT)
        return _ok(request)

    def opener():
        while len(inside) < 2:
            time.sleep(0.001)
        gate.set()

    threading.Thread(target=opener, daemon=True).start()
    client = RewardClient(["http://a", "http://b"], transport=httpx.MockTransport(slow), batch_size=1,
                          max_concurrency=2)
    assert client.score(["p"] * 6, ["r"] * 6).mean.tolist() == [1.0] * 6
    assert sorted(inside[:2]) == ["a", "b"]  # the second request went to the idle replica
    assert sorted(set(inside)) == ["a", "b"]


def test_least_outstanding_choice():
    from rewardlab.scoring.client import _Replicas

    r = _Replicas("http://a:1/v1/rewards,http://b:1,http://c:1/get_reward")
    assert r.urls == ["http://a:1", "http://b:1", "http://c:1"]
    first = [r.acquire() for _ in range(3)]
    assert sorted(first) == [0, 1, 2]  # one each
    r.release(1)
    assert r.acquire() == 1  # the only idle one
    assert r.acquire(avoid=0) in (1, 2)  # a retry avoids the replica that just failed
    assert r.outstanding == [1, 2, 1] or r.outstanding == [1, 1, 2]


def test_fails_over_to_another_replica():
    script = Script(per_host={"a": 503})
    client = _client(script, urls="http://a,http://b", retries=3)
    for _ in range(3):
        assert client.score(["p"], ["r"]).mean.tolist() == [1.0]
    assert script.hosts.count("b") == 3 and script.hosts.count("a") <= 3


def test_a_retry_goes_to_another_replica_even_a_busier_one():
    """Replica a fails and is the least busy (b has a request in flight): the retry must still go to b, for the
    sync and the async client alike (their shared retry loop passes the failed replica to avoid)."""
    script = Script(per_host={"a": 503})
    client = _client(script, urls="http://a,http://b", retries=1)
    client.replicas.outstanding[1] += 1  # b is busy: least outstanding alone would pick a again
    assert client.score(["p"], ["r"]).mean.tolist() == [1.0]
    assert script.hosts == ["a", "b"]

    async def handler(request):
        return script(request)

    async def run():
        async with AsyncRewardClient("http://a,http://b", transport=httpx.MockTransport(handler), backoff=0.001,
                                     retries=1) as aclient:
            aclient.replicas.outstanding[1] += 1
            return (await aclient.score(["p"], ["r"])).mean.tolist()

    script.hosts.clear()
    assert asyncio.run(run()) == [1.0] and script.hosts == ["a", "b"]


def test_async_client_retries_too():
    script = Script([503, httpx.ConnectError])

    async def handler(request):
        return script(request)

    async def run():
        async with AsyncRewardClient("http://a", transport=httpx.MockTransport(handler), backoff=0.001,
                                     batch_size=2) as client:
            return (await client.score(["p"] * 3, ["a", "bb", "ccc"])).mean.tolist()

    assert asyncio.run(run()) == [1.0, 2.0, 3.0] and len(script.hosts) == 4


def test_client_rides_out_a_full_queue(gated):
    """A real server with max_queue 1: the client gets 503s with Retry-After and retries until served."""
    from rewardlab.serve import BackgroundServer, ServeSpec, create_app

    gated.gate.clear()
    with BackgroundServer(create_app(gated, ServeSpec(max_queue=1, max_wait_ms=0.0))) as server:
        client = RewardClient(server.url, batch_size=1, max_concurrency=4, retries=20, max_backoff=0.2)
        out: dict = {}
        t = threading.Thread(target=lambda: out.setdefault("r", client.score(["p"] * 4, ["a", "bb", "ccc", "dddd"])))
        t.start()
        time.sleep(0.3)  # one request in the model, one queued, the others bouncing off 503
        gated.gate.set()
        t.join(WAIT)
        assert out["r"].mean.tolist() == [1.0, 2.0, 3.0, 4.0]
        text = http(server.url).get("/metrics").text
        assert 'rewardlab_rejected_total{reason="queue_full"}' in text


def test_without_httpx_the_error_names_the_extra(monkeypatch):
    """A base install has no httpx: the clients (and HTTPScorer, which sends through them) say what to install."""
    import sys

    from rewardlab.scoring import HTTPScorer

    monkeypatch.setitem(sys.modules, "httpx", None)  # `import httpx` now raises ImportError
    for make in (lambda: RewardClient("http://a"), lambda: AsyncRewardClient("http://a"),
                 lambda: HTTPScorer("http://a/score").score(["p"], ["r"], progress=False)):
        with pytest.raises(RewardlabError, match=r"pip install 'rewardlab\[serve\]'"):
            make()
