"""The reward server against hostile clients: poison in a batch, malformed JSON, overflowing rules, slow and
idle connections, browsers (Host and Content-Type), over-long items, keys kept out of `ps`, docs behind auth,
TLS, and a fuzz run generated from the server's own OpenAPI schema."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import shutil
import socket
import subprocess
import time

import httpx
import numpy as np
import pytest
from serve_fixtures import (  # noqa: F401  (fixtures)
    API_KEY,
    JSON,
    WAIT,
    anon_fixture,
    client_fixture,
    http,
    live_fixture,
    tiny_scorer_fixture,
)

from rewardlab.errors import RewardlabError
from rewardlab.scoring import RewardOutput

LONE = '"\\ud800"'  # a lone UTF-16 surrogate, as JSON's escape writes it


def _serve(scorer, **spec):
    from rewardlab.serve import BackgroundServer, ServeSpec, create_app

    return BackgroundServer(create_app(scorer, ServeSpec(**spec)))


def _post_raw(client: httpx.Client, route: str, body: str) -> httpx.Response:
    return client.post(route, content=body.encode(), headers=JSON)


# ---------------------------------------------------------------------------------------------- poison


def test_a_lone_surrogate_fails_only_its_own_request(client, tiny_scorer):
    """The path that let it through: raw items (/classify input, /get_reward queries) were tokenised in one call
    per batch, so one bad text failed every request in the batch with 500."""
    good = [f"Question {i}? Answer {i}." for i in range(6)]
    want = tiny_scorer.score([""] * 6, good, progress=False)  # only for the shape; values checked below

    def ask(i: int) -> httpx.Response:
        if i == 3:
            return _post_raw(client, "/classify", '{"input": ' + LONE + ', "use_activation": false}')
        return client.post("/classify", json={"input": good[i if i < 3 else i - 1], "use_activation": False})

    with concurrent.futures.ThreadPoolExecutor(7) as pool:
        answers = list(pool.map(ask, range(7)))
    bad = answers.pop(3)
    assert bad.status_code == 422 and "input: a lone UTF-16 surrogate" in bad.json()["detail"], bad.text
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    assert len(want.mean) == 6
    r = _post_raw(client, "/v1/rewards", '{"items": [{"prompt": "a", "response": ' + LONE + '}]}')
    assert r.status_code == 422 and "items[0].response: a lone UTF-16 surrogate" in r.json()["detail"]
    r = _post_raw(client, "/get_reward", '{"query": ["ok", ' + LONE + ']}')
    assert r.status_code == 422 and "query[1]: a lone UTF-16 surrogate" in r.json()["detail"]


def test_untokenisable_raw_text_fails_only_its_item(tiny_scorer):
    """Below HTTP (an Item built in Python): the tokenizer's exception stays with its item."""
    from rewardlab.serve.engine import Item, ItemScorer

    scorer = ItemScorer(tiny_scorer)
    items = [Item(text="What is 2+2? 4"), Item(text="bad " + chr(0xD800)), Item(text="Name a colour. Blue.")]
    got = scorer.score_items(items)
    assert got[0].ok and got[2].ok and not got[1].ok
    assert got[1].error_kind == "input" and "cannot tokenise" in got[1].error
    alone = scorer.score_items([items[0], items[2]])
    assert [got[0].reward, got[2].reward] == pytest.approx([r.reward for r in alone], abs=1e-5)


def test_a_failing_request_in_a_batch_fails_alone():
    """An unexpected exception from the model thread goes to the request it belongs to, not the whole batch."""
    from rewardlab.scoring import CallableScorer
    from rewardlab.serve.engine import BatchingEngine, Item, ItemScorer

    class Picky(ItemScorer):
        def score_groups(self, groups):
            if any(it.response == "POISON" for g in groups for it in g):
                raise RuntimeError("poisoned")
            return super().score_groups(groups)

    async def main():
        engine = BatchingEngine(Picky(CallableScorer(lambda prompt, response: len(response))), max_wait_ms=50)
        jobs = [engine.submit([Item("p", r)]) for r in ("aa", "POISON", "bbbb")]
        out = await asyncio.gather(*(j.future for j in jobs), return_exceptions=True)
        await engine.stop()
        return out, engine.n_batches

    (a, poisoned, b), n_batches = asyncio.run(main())
    assert a[0].reward == 2.0 and b[0].reward == 4.0
    assert isinstance(poisoned, RuntimeError) and n_batches == 1  # one batch, then each request alone


def _poisoned_run(server_url: str, n: int, tiny_scorer) -> None:
    """n requests, every tenth one bad in some way, from 16 threads; every good one answered with its offline
    reward."""
    bad_bodies = [
        ("/v1/rewards", '{"items": [{"prompt": "x", "response": ' + LONE + '}]}', 422),
        ("/classify", '{"input": [' + LONE + ', "ok"]}', 422),
        ("/get_reward", "[" * 5000 + "]" * 5000, 422),
        ("/v1/rewards", '{"items": [{"prompt": "x", "response": "y"}], "n": ' + "9" * 5000 + "}", 422),
        ("/v1/rewards", '{"items": [{"prompt": "x"}]}', 422),
        ("/v1/rewards", '{"items": [{"prompt": "x", "response": "' + "z" * 12000 + '"}]}', 422),
        ("/score", '{"prompts": ["a"], "responses": [NaN]}', 422),
    ]
    prompts = [f"Question {i}?" for i in range(n)]
    responses = [f"Answer number {i}." for i in range(n)]
    want = tiny_scorer.score(prompts, responses, progress=False).mean

    def one(i: int):
        with http(server_url) as c:
            if i % 10 == 9:
                route, body, status = bad_bodies[(i // 10) % len(bad_bodies)]
                r = c.post(route, content=body.encode(), headers=JSON)
                return "bad", i, r.status_code == status and "Traceback" not in r.text, r.text[:200]
            r = c.post("/v1/rewards", json={"items": [{"prompt": prompts[i], "response": responses[i]}]})
            ok = r.status_code == 200 and abs(r.json()["results"][0]["reward"] - want[i]) < 1e-4
            return "good", i, ok, r.text[:200]

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(n)))
    failed = [r for r in results if not r[2]]
    assert not failed, failed[:5]
    assert sum(r[0] == "bad" for r in results) == n // 10


def test_poisoned_batches_every_good_request_answered(tiny_scorer):
    with _serve(tiny_scorer, max_wait_ms=20.0, max_tokens_per_item=600) as server:
        _poisoned_run(server.url, 200, tiny_scorer)


@pytest.mark.extended
def test_poisoned_batches_extended(tiny_scorer):
    with _serve(tiny_scorer, max_wait_ms=20.0, max_tokens_per_item=600) as server:
        _poisoned_run(server.url, 1000, tiny_scorer)


# ---------------------------------------------------------------------------------------------- malformed JSON


@pytest.mark.parametrize(("body", "named"), [
    ("[" * 5000 + "]" * 5000, "nested deeper than max_json_depth"),
    ("[" * 100_000 + "]" * 100_000, "nested deeper than max_json_depth"),
    ('{"items": ' + "[" * 40 + "]" * 40 + "}", "items" + "[0]" * 31 + ": JSON nested deeper than max_json_depth 32"),
    ('{"items": [{"prompt": "a", "response": "b"}], "x": ' + "7" * 5000 + "}", "body: invalid JSON"),
    ('{"items": [{"prompt": "a", "response": "b"}], "x": NaN}', "body: invalid JSON (NaN is not JSON)"),
    ('{"items": [{"prompt": "a", "response": "b"}], "x": -Infinity}', "body: invalid JSON"),
    ('{"items": [{"pro\\udfffmpt": "a", "response": "b"}]}', "items[0]: a lone UTF-16 surrogate (\\udfff"),
])
def test_hostile_json_gets_422(roomy, body, named):
    with http(roomy.url) as c:
        r = _post_raw(c, "/v1/rewards", body)
    assert r.status_code == 422 and named in r.json()["detail"], r.text[:300]


@pytest.fixture(scope="module")
def roomy(tiny_scorer):
    """A keyless server of the tiny model that takes bodies up to 1 MB."""
    with _serve(tiny_scorer, max_body_bytes=1_000_000) as server:
        yield server


def test_an_overflowing_rule_gets_422_not_500():
    class Wide:
        name = "wide"

        def score(self, prompts, responses, progress=True):
            return RewardOutput(np.ones(len(responses)), std=np.full(len(responses), 2.0))

    with _serve(Wide()) as server, http(server.url) as c:
        item = {"prompt": "a", "response": "b"}
        for select in ("lcb:1e308", "uwo:1e308"):
            r = c.post("/v1/rewards", json={"items": [item], "select": select})
            if select.startswith("uwo"):  # needs members: refused by the rule check already
                assert r.status_code == 422
                continue
            assert r.status_code == 422 and "gives a non-finite score" in r.json()["detail"], r.text
        r = c.post("/v1/rewards", json={"items": [item], "select": "lcb:1e300"})
        assert r.status_code == 200 and np.isfinite(r.json()["results"][0]["pessimistic"])
        r = c.post("/score", json={"prompts": ["a"], "responses": ["b"], "select": "lcb:1e308"})
        assert r.status_code == 422


# ---------------------------------------------------------------------------------------------- browsers


def test_host_header_and_content_type(live, client):
    port = live.port
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.2", "localhost.evil.example"):
        r = client.get("/health", headers={"Host": host})
        assert r.status_code == 400 and "Host header" in r.json()["detail"], host
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "LOCALHOST", f"[::1]:{port}"):
        assert client.get("/health", headers={"Host": host}).status_code == 200, host
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
        headers = {"Content-Type": ctype} if ctype else {}
        r = client.post("/v1/rewards", content=b'{"items": [{"prompt": "a", "response": "b"}]}', headers=headers)
        assert r.status_code == 415 and "application/json" in r.json()["detail"], ctype
    r = client.post("/v1/rewards", content=b'{"items": [{"prompt": "a", "response": "b"}]}',
                    headers={"Content-Type": "application/vnd.api+json"})
    assert r.status_code == 200


def test_host_check_off_beyond_loopback_and_configurable(tiny_scorer):
    from rewardlab.serve import ServeSpec

    assert ServeSpec(host="0.0.0.0", api_key="k").resolved_allowed_hosts() is None
    assert ServeSpec(allowed_hosts=["*"]).resolved_allowed_hosts() is None
    assert ServeSpec(allowed_hosts=["rm.internal:8600", "[::1]"]).resolved_allowed_hosts() == {"rm.internal:8600",
                                                                                                 "::1"}
    with _serve(tiny_scorer, allowed_hosts=["rm.internal"]) as server, http(server.url) as c:
        assert c.get("/health", headers={"Host": "rm.internal:1234"}).status_code == 200
        assert c.get("/health").status_code == 400  # 127.0.0.1 is not in the list


# ---------------------------------------------------------------------------------------------- keys, docs, TLS


def test_api_key_from_a_file(tmp_path, tiny_scorer, monkeypatch):
    from rewardlab.config import ConfigError
    from rewardlab.serve import ServeSpec

    monkeypatch.delenv("REWARDLAB_API_KEY", raising=False)
    key = tmp_path / "key"
    key.write_text("s3cret\n")
    spec = ServeSpec(api_key_file=str(key))
    assert spec.resolved_api_key() == "s3cret"
    with _serve(tiny_scorer, api_key_file=str(key)) as server, http(server.url) as c:
        assert c.get("/info").status_code == 401
        assert c.get("/info", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(RewardlabError, match="the first line is empty"):
        ServeSpec(api_key_file=str(tmp_path / "empty")).resolved_api_key()
    with pytest.raises(RewardlabError, match="cannot read it"):
        ServeSpec(api_key_file=str(tmp_path / "missing")).resolved_api_key()
    with pytest.raises(ConfigError, match="not both"):
        ServeSpec(api_key="a", api_key_file=str(key))


def test_docs_need_the_key_when_one_is_set(anon, client, tiny_scorer):
    for route in ("/docs", "/openapi.json", "/redoc"):
        assert anon.get(route).status_code == 401, route
        assert client.get(route).status_code == 200, route
    with _serve(tiny_scorer) as server, http(server.url) as c:  # keyless (loopback): open
        doc = c.get("/openapi.json").json()
    body = doc["paths"]["/v1/rewards"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["items"] and "RewardItemIn" in doc["components"]["schemas"]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl (to make a test certificate) is not installed")
def test_tls(tmp_path, tiny_scorer):
    from rewardlab.config import ConfigError
    from rewardlab.serve import ServeSpec

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=localhost"], check=True, capture_output=True)
    with _serve(tiny_scorer, ssl_certfile=str(cert), ssl_keyfile=str(key)) as server:
        assert server.url.startswith("https://")
        import ssl

        with httpx.Client(verify=ssl.create_default_context(cafile=str(cert)), timeout=WAIT) as c:
            r = c.post(f"https://localhost:{server.port}/v1/rewards",
                       json={"items": [{"prompt": "2+2?", "response": "4"}]})
        assert r.status_code == 200
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{server.port}/health", timeout=5)  # plain http is not answered
    with pytest.raises(ConfigError, match="go together"):
        ServeSpec(ssl_certfile=str(cert))


# ---------------------------------------------------------------------------------------------- slow clients


def _half_open(port: int, n: int) -> list[socket.socket]:
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        if i % 2:
            s.sendall(b"POST /v1/rewards HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # headers never finished
        socks.append(s)
    return socks


def _closed_by_server(s: socket.socket, within: float) -> bool:
    s.settimeout(within)
    try:
        return s.recv(1024) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_slow_and_idle_connections_are_closed_and_do_not_block_a_client(tiny_scorer):
    with _serve(tiny_scorer, api_key=API_KEY, request_read_timeout_s=1.0, max_connections=16) as server:
        socks = _half_open(server.port, 40)  # 2.5 x the cap, half of them mid-headers
        try:
            t0 = time.monotonic()
            with http(server.url, headers={"Authorization": f"Bearer {API_KEY}"}) as c:
                for _ in range(3):
                    r = c.post("/v1/rewards", json={"items": [{"prompt": "2+2?", "response": "4"}]})
                    assert r.status_code == 200
            assert time.monotonic() - t0 < 5.0
            assert all(_closed_by_server(s, 3.0) for s in socks[-10:])  # evicted, or past the read deadline
            assert len(server.server.server_state.connections) <= 16
        finally:
            for s in socks:
                s.close()
        cls = server.server.config.http_protocol_class
        assert cls.evicted >= 24 and cls.closed_slow + cls.evicted >= 40


def test_a_request_sent_slowly_is_cut_at_the_read_deadline(tiny_scorer):
    with _serve(tiny_scorer, request_read_timeout_s=1.0) as server:
        s = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
        try:
            t0 = time.monotonic()
            for chunk in (b"POST /v1/rewards HTTP/1.1\r\n", b"Host: 127.0.0.1\r\n", b"Content-Length: 99\r\n"):
                s.sendall(chunk)
                time.sleep(0.4)
            assert _closed_by_server(s, 3.0) and time.monotonic() - t0 < 3.5
        finally:
            s.close()
        with http(server.url) as c:  # a normal client is unaffected
            assert c.get("/health").status_code == 200


# ---------------------------------------------------------------------------------------------- big items, queue


def test_over_long_items_are_refused_before_tokenising(tiny_scorer, monkeypatch):
    from rewardlab.serve.engine import ItemScorer

    seen: list[int] = []
    real = ItemScorer.encode

    def spy(self, items):
        seen.extend(it.n_chars() for it in items)
        return real(self, items)

    monkeypatch.setattr(ItemScorer, "encode", spy)
    with _serve(tiny_scorer, max_tokens_per_item=600, max_body_bytes=4_000_000) as server, http(server.url) as c:
        huge = "字" * 700_000  # 2.1 MB of CJK text as UTF-8
        r = c.post("/v1/rewards", json={"items": [{"prompt": "Say it.", "response": huge},
                                                  {"prompt": "2+2?", "response": "4"}]}, timeout=WAIT)
        assert r.status_code == 200
        bad, ok = r.json()["results"]
        assert "700007 characters > max_chars_per_item 9600" in bad["error"] and bad["error_kind"] == "input"
        assert ok["reward"] is not None
        r = c.post("/classify", json={"input": "x" * 1_500_000}, timeout=WAIT)
        assert r.status_code == 422 and "max_chars_per_item" in r.json()["detail"]
    assert seen and max(seen) < 100  # the model thread never saw the long texts


def test_queue_is_bounded_in_tokens():
    from rewardlab.scoring import CallableScorer
    from rewardlab.serve.engine import BatchingEngine, Item, ItemScorer, QueueFullError

    async def main():
        engine = BatchingEngine(ItemScorer(CallableScorer(lambda prompt, response: 1.0)), max_batch_tokens=64,
                                max_queue_tokens=100)
        first = engine.submit([Item("p", "x" * 300)])  # alone in the queue: taken even above the bound
        with pytest.raises(QueueFullError, match="max_queue_tokens 100"):
            engine.submit([Item("p", "y" * 40)])
        await first.future
        second = engine.submit([Item("p", "y" * 40)])
        third = engine.submit([Item("p", "z" * 40)])
        await asyncio.gather(second.future, third.future)
        assert engine.queued_tokens == 0
        await engine.stop()

    asyncio.run(main())


# ---------------------------------------------------------------------------------------------- fuzzing


def _fuzz(server_url: str, n_examples: int, seed: int) -> dict[str, int]:
    """Requests generated from the server's own OpenAPI schema by schemathesis (bodies valid by the schema and
    bodies that break it), plus mutations it does not make (unknown fields with arbitrary JSON, surrogates, deep
    nesting, garbage bytes): never a 5xx, a hang or a traceback."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hseed
    from hypothesis import strategies as st
    from schemathesis.generation import GenerationMode

    with http(server_url) as c:
        doc = c.get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(doc)
    operations = {op.path: op for op in (r.ok() for r in schema.get_all_operations()) if op.method.upper() == "POST"}
    assert sorted(operations) == ["/classify", "/get_reward", "/score", "/v1/rewards"]
    json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                               | st.text(max_size=20), lambda kids: st.lists(kids, max_size=4)
                               | st.dictionaries(st.text(max_size=8), kids, max_size=4), max_leaves=12)
    hostile = ["\"\\ud800\"", "[" * 3000, '{"items": ["\\ud800"]}', "1e999", "-0", '{"query": ["\\udc00x"]}',
               '{"input": ' * 50, '{"items": [{"prompt": "a", "response": "b"}], "select": "lcb:1e308"}']

    def text(body) -> str:  # negative cases may carry raw bytes, or no body at all
        if isinstance(body, bytes):
            return body.decode("latin-1")
        return json.dumps(body) if isinstance(body, dict | list | str | int | float | bool | None) else ""

    def bodies(op):
        valid = op.as_strategy(generation_mode=GenerationMode.POSITIVE).map(lambda case: text(case.body))
        invalid = op.as_strategy(generation_mode=GenerationMode.NEGATIVE).map(lambda case: text(case.body))
        extra = st.tuples(op.as_strategy(generation_mode=GenerationMode.POSITIVE), st.text(max_size=10),
                          json_values).map(lambda t: json.dumps({**t[0].body, t[1]: t[2]})
                                           if isinstance(t[0].body, dict) else text(t[2]))
        raw = st.one_of(st.binary(max_size=64).map(lambda b: b.decode("latin-1")), st.sampled_from(hostile))
        return st.one_of(valid, valid, invalid, extra, raw)

    counts: dict[str, int] = {}
    per_route = max(1, n_examples // len(operations))

    def fuzz_route(c: httpx.Client, route: str) -> None:
        @hseed(seed)
        @settings(max_examples=per_route, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(bodies(operations[route]))
        def check(body: str) -> None:
            r = c.post(route, content=body.encode("utf-8", "surrogatepass"), headers=JSON)
            counts[str(r.status_code)] = counts.get(str(r.status_code), 0) + 1
            assert r.status_code < 500, (route, body[:200], r.status_code, r.text[:300])
            assert "Traceback" not in r.text, r.text[:300]

        check()

    with http(server_url) as c:
        for route in sorted(operations):
            fuzz_route(c, route)
    return counts


def test_fuzz_from_the_openapi_schema(tiny_scorer):
    with _serve(tiny_scorer, max_wait_ms=0.0, max_tokens_per_item=600) as server:
        counts = _fuzz(server.url, 120, seed=0)
    assert sum(counts.values()) >= 120 and counts.get("200", 0) > 0 and counts.get("422", 0) > 0, counts


@pytest.mark.extended
def test_fuzz_extended(tiny_scorer):
    n = int(os.environ.get("REWARDLAB_FUZZ_EXAMPLES", "10000"))
    with _serve(tiny_scorer, max_wait_ms=0.0, max_tokens_per_item=600) as server:
        counts = _fuzz(server.url, n, seed=1)
    print("fuzz status counts:", counts)
    assert sum(counts.values()) >= n


def test_empty_raw_text_is_an_input_error(client):
    """Found by the fuzz run: an empty OpenRLHF query tokenises to nothing for a chat-template model (no special
    tokens around raw text), and the model failed on the empty sequence with 500."""
    r = client.post("/get_reward", json={"query": [""]})
    assert r.status_code == 422 and "query[0]: the text is empty" in r.json()["detail"], r.text
    r = client.post("/classify", json={"input": ["", "What is 2+2? 4"], "use_activation": False})
    assert r.status_code == 422 and "input[0]" in r.json()["detail"]


def test_a_truncated_pair_is_tokenised_once(tiny_scorer, monkeypatch):
    """Pairs over max_length were tokenised twice (a second, uncut renderer measured their full length); the
    renderer now reports the length before its cut (full_tokens)."""
    from rewardlab.render import Renderer
    from rewardlab.serve.engine import Item, ItemScorer

    calls: list[int] = []
    real = Renderer._tok

    def counting(self, texts):
        calls.append(len(texts))
        return real(self, texts)

    monkeypatch.setattr(Renderer, "_tok", counting)
    scorer = ItemScorer(tiny_scorer, max_tokens_per_item=600)
    long = " ".join(["the"] * 540)  # > max_length 512: truncated by the render spec, still scored
    result = scorer.score_items([Item("Say it.", long)])[0]
    assert result.ok and result.truncated and result.n_tokens == 512
    assert sum(calls) == 2  # the prompt once, the response once
    too_long = scorer.score_items([Item("Say it.", " ".join(["the"] * 700))])[0]
    assert "tokens > max_tokens_per_item 600" in too_long.error  # measured from that one tokenisation
