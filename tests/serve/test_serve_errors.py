"""Every error path of the server: bad bodies (422 naming the field), limits (413 / 422), auth (401), a full
queue (503 + Retry-After), timeouts (504), model exceptions (500, and the server keeps serving), a client that
disconnects mid-request, and the refusal to listen beyond loopback without a key. Loopback only; every wait is
bounded."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest
from serve_fixtures import (  # noqa: F401  (fixtures)
    API_KEY,
    JSON,
    WAIT,
    anon_fixture,
    client_fixture,
    gated_fixture,
    http,
    live_fixture,
    tiny_scorer_fixture,
)

from rewardlab.errors import RewardlabError


def _until(cond, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


@pytest.mark.parametrize(("body", "status", "named"), [
    ("{bad json", 422, "body: invalid JSON"),
    ("[1, 2]", 422, "body: expected a JSON object"),
    ('{"items": []}', 422, "items: List should have at least 1 item"),
    ('{"items": "x"}', 422, "items: Input should be a valid list"),
    ('{"items": [{"prompt": 1, "response": "4"}]}', 422, "items[0].prompt: Input should be a valid string"),
    ('{"items": [{"prompt": "2+2?"}]}', 422, "items[0]: Value error, an item needs prompt and response"),
    ('{"items": [{"prompt": "a", "response": "b", "extra": 1}]}', 422, "items[0].extra: Extra inputs"),
    ('{"items": [{"messages": [{"role": "user", "content": "hi"}]}]}', 422, "items[0]: Value error, messages must"),
    ('{"items": [{"prompt": "a", "response": "b"}], "select": "best"}', 422, "select: Value error, unknown rule"),
    ('{"items": [{"prompt": "a", "response": "b"}], "select": "lcb:1"}', 422, "select: rule 'lcb:1' needs a std"),
    ('{"items": [{"prompt": "a", "response": "b"}], "select": "min"}', 422, "select: rule 'min' needs ensemble"),
])
def test_bad_bodies_name_the_field(client, body, status, named):
    r = client.post("/v1/rewards", content=body, headers=JSON)
    assert r.status_code == status and named in r.json()["detail"], r.text


@pytest.mark.parametrize(("route", "body", "named"), [
    ("/get_reward", '{"query": "a"}', "query: Input should be a valid list"),
    ("/get_reward", '{"query": [1]}', "query[0]: Input should be a valid string"),
    ("/get_reward", '{"prompts": ["a"]}', "query: Field required"),
    ("/classify", '{"model": "m"}', "Value error, give exactly one of input and messages"),
    ("/classify", '{"input": []}', "input must not be an empty list"),
    ("/score", '{"prompts": ["a"], "responses": []}', "1 prompts but 0 responses"),
])
def test_other_protocols_name_the_field(client, route, body, named):
    r = client.post(route, content=body, headers=JSON)
    assert r.status_code == 422 and named in r.json()["detail"], r.text


def test_size_limits(live, client):
    r = client.post("/v1/rewards", json={"items": [{"prompt": "a", "response": "b"}] * 9})
    assert r.status_code == 413 and "items: 9 items > max_items 8" in r.json()["detail"]
    r = client.post("/get_reward", json={"query": ["a"] * 9})
    assert r.status_code == 413 and "query: 9 items > max_items 8" in r.json()["detail"]
    big = {"items": [{"prompt": "a", "response": "x" * 30_000}]}
    r = client.post("/v1/rewards", json=big)
    assert r.status_code == 413 and "max_body_bytes 20000" in r.json()["detail"]

    def chunked():  # no Content-Length: the limit holds while reading
        for _ in range(30):
            yield b"x" * 1000

    r = client.post("/v1/rewards", content=chunked(), headers=JSON)
    assert r.status_code == 413 and "max_body_bytes" in r.json()["detail"]


def test_tokens_per_item(client):
    long = " ".join(["the"] * 700)  # > max_tokens_per_item 600 (" the" is one token)
    mid = " ".join(["the"] * 540)  # > max_length 512: truncated by the render spec, still scored
    r = client.post("/v1/rewards", json={"items": [{"prompt": "Say it.", "response": long}]})
    assert r.status_code == 422 and "items[0]:" in r.json()["detail"] and "max_tokens_per_item 600" in r.text
    r = client.post("/v1/rewards", json={"items": [{"prompt": "Say it.", "response": long},
                                                   {"prompt": "Say it.", "response": mid},
                                                   {"prompt": "Say it.", "response": "word"}]})
    assert r.status_code == 200, r.text
    bad, cut, ok = r.json()["results"]
    assert "max_tokens_per_item" in bad["error"] and bad["error_kind"] == "input"
    assert cut["truncated"] is True and cut["n_tokens"] == 512 and ok["truncated"] is False
    r = client.post("/get_reward", json={"query": ["q", long]})
    assert r.status_code == 422 and "query[1]:" in r.json()["detail"]


@pytest.mark.parametrize("route", ["/v1/rewards", "/get_reward", "/classify", "/score", "/info"])
@pytest.mark.parametrize("auth", [None, "Bearer wrong", f"Basic {API_KEY}", f"Bearer {API_KEY}x"])
def test_auth_on_every_inference_route(anon, route, auth):
    headers = {"Authorization": auth} if auth else {}
    method = "GET" if route == "/info" else "POST"
    r = anon.request(method, route, headers=headers, content='{"query": ["a"]}')
    assert r.status_code == 401 and "api key" in r.json()["detail"]
    assert r.headers["www-authenticate"] == "Bearer"


def _serve(scorer, **spec):
    from rewardlab.serve import BackgroundServer, ServeSpec, create_app

    return BackgroundServer(create_app(scorer, ServeSpec(**spec)))


def test_full_queue_answers_503_with_retry_after(gated):
    gated.gate.clear()
    with _serve(gated, max_queue=2, max_wait_ms=0.0) as server, http(server.url) as c:
        results: dict[int, httpx.Response] = {}

        def ask(i):
            results[i] = c.post("/v1/rewards", json={"items": [{"prompt": "p", "response": "r" * (i + 1)}]})

        first = threading.Thread(target=ask, args=(0,))
        first.start()
        assert gated.entered.wait(WAIT)  # request 0 is in the model
        queued = [threading.Thread(target=ask, args=(i,)) for i in (1, 2)]
        for t in queued:
            t.start()
        _until(lambda: "rewardlab_queue_depth 2.0" in c.get("/metrics").text, "two queued requests")
        r = c.post("/v1/rewards", json={"items": [{"prompt": "p", "response": "late"}]})
        assert r.status_code == 503 and "queue is full" in r.json()["detail"]
        assert int(r.headers["retry-after"]) >= 1
        gated.gate.set()
        for t in [first, *queued]:
            t.join(WAIT)
        assert [results[i].status_code for i in range(3)] == [200, 200, 200]
        assert [results[i].json()["results"][0]["reward"] for i in range(3)] == [1.0, 2.0, 3.0]
        assert 'rewardlab_rejected_total{reason="queue_full"} 1.0' in c.get("/metrics").text


def test_timeout_answers_504(gated):
    gated.gate.clear()
    with _serve(gated, timeout_s=0.2) as server, http(server.url) as c:
        r = c.post("/v1/rewards", json={"items": [{"prompt": "p", "response": "r"}]})
        assert r.status_code == 504 and "timeout_s 0.2" in r.json()["detail"]
        gated.gate.set()
        r = c.post("/v1/rewards", json={"items": [{"prompt": "p", "response": "r"}]})
        assert r.status_code == 200


def test_model_exception_fails_only_its_items(gated):
    with _serve(gated) as server, http(server.url) as c:
        r = c.post("/v1/rewards", json={"items": [{"prompt": "p", "response": "BOOM"}]})
        assert r.status_code == 500 and "boom: the model fell over" in r.json()["detail"]
        r = c.post("/v1/rewards", json={"items": [{"prompt": "p", "response": "ok"},
                                                  {"prompt": "p", "response": "BOOM"}]})
        assert r.status_code == 200
        good, bad = r.json()["results"]
        assert good["reward"] == 2.0 and bad["error_kind"] == "model" and "boom" in bad["error"]
        r = c.post("/get_reward", json={"query": ["fine", "BOOM"]})
        assert r.status_code == 500 and "query[1]: model error" in r.json()["detail"]
        r = c.post("/v1/rewards", json={"items": [{"prompt": "p", "response": "NAN"},
                                                  {"prompt": "p", "response": "ok"}]})
        assert r.status_code == 200 and "non-finite reward nan" in r.json()["results"][0]["error"]
        r = c.post("/classify", json={"input": "NAN"})
        assert r.status_code == 500 and "input[0]: model error: non-finite" in r.json()["detail"]
        assert c.post("/v1/rewards", json={"items": [{"prompt": "p", "response": "ok"}]}).status_code == 200


def test_real_model_exception_then_keeps_serving(tiny_scorer, monkeypatch):
    model = tiny_scorer.loaded.model
    real = model.forward
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("CUDA error: device-side assert triggered")
        return real(*args, **kwargs)

    monkeypatch.setattr(model, "forward", flaky)
    with _serve(tiny_scorer) as server, http(server.url) as c:
        r = c.post("/v1/rewards", json={"items": [{"prompt": "2+2?", "response": "4"}]})
        assert r.status_code == 500 and "device-side assert" in r.json()["detail"]
        r = c.post("/v1/rewards", json={"items": [{"prompt": "2+2?", "response": "4"}]})
        assert r.status_code == 200
        want = tiny_scorer.score(["2+2?"], ["4"], progress=False).mean[0]
        assert r.json()["results"][0]["reward"] == pytest.approx(want, abs=1e-4)


def test_client_disconnect_mid_request_leaks_nothing(gated):
    gated.gate.clear()
    with _serve(gated) as server, http(server.url) as c:
        state = server.app.state.server
        body = b'{"items": [{"prompt": "p", "response": "gone"}]}'
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
        sock.sendall(b"POST /v1/rewards HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        assert gated.entered.wait(WAIT)  # the request is in the model
        sock.close()
        _until(lambda: 'reason="client_gone"} 1.0' in c.get("/metrics").text, "the server to see the disconnect")
        gated.gate.set()
        _until(lambda: state.engine.busy == 0, "the model to finish")
        r = c.post("/v1/rewards", json={"items": [{"prompt": "p", "response": "back"}]})
        assert r.status_code == 200 and r.json()["results"][0]["reward"] == 4.0
        text = c.get("/metrics").text
        assert "rewardlab_requests_in_flight 0.0" in text and "rewardlab_queue_depth 0.0" in text
        assert state.engine.queue.qsize() == 0 and state.engine.busy == 0


def test_no_key_no_listening_beyond_loopback(monkeypatch, capsys):
    from rewardlab.cli import main
    from rewardlab.serve import ServeSpec, check_bind, run_server

    monkeypatch.delenv("REWARDLAB_API_KEY", raising=False)
    for host in ("0.0.0.0", "::", "10.1.2.3", "my-host.example"):
        with pytest.raises(RewardlabError, match="refusing to serve on"):
            check_bind(host, None)
    check_bind("127.0.0.1", None)
    check_bind("localhost", None)
    check_bind("0.0.0.0", "k")
    with pytest.raises(RewardlabError, match="refusing to serve on 0.0.0.0"):
        run_server("no/such/model", ServeSpec(host="0.0.0.0"))  # refused before loading anything
    with pytest.raises(SystemExit) as e:
        main(["serve", "--model", "no/such/model", "--host", "0.0.0.0"])
    assert e.value.code == 2 and "refusing to serve on 0.0.0.0 without an api key" in capsys.readouterr().err
    monkeypatch.setenv("REWARDLAB_API_KEY", "from-env")
    assert ServeSpec(host="0.0.0.0").resolved_api_key() == "from-env"
