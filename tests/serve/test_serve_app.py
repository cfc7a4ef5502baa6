"""The reward server against offline scoring, and its protocols: rewardlab's /v1/rewards, OpenRLHF's /get_reward
(its exact one-sample requests), vLLM's /classify (verl's request), /score (HTTPScorer), health, info, metrics.
Every request goes over a loopback socket to uvicorn in a thread; every wait is bounded."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from serve_fixtures import (  # noqa: F401  (fixtures)
    API_KEY,
    WAIT,
    anon_fixture,
    client_fixture,
    http,
    live_fixture,
    tiny_scorer_fixture,
)

from rewardlab.simulate import simulate_pairs

N_CLIENTS = 16


@pytest.fixture(scope="module")
def pairs():
    """Simulator prompts, each with its chosen and rejected response (so requests share prompts)."""
    rows = simulate_pairs(12, seed=3)
    prompts = [r["prompt"] for r in rows for _ in (0, 1)]
    responses = [x for r in rows for x in (r["chosen"], r["rejected"])]
    return prompts, responses


def _concurrently(fn, jobs):
    with ThreadPoolExecutor(N_CLIENTS) as pool:
        return list(pool.map(fn, jobs, timeout=WAIT))


def _metric(text: str, name: str) -> float:
    m = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def test_rewards_equal_offline_scoring_at_concurrency(live, client, tiny_scorer, pairs):
    prompts, responses = pairs
    offline = tiny_scorer.score(prompts, responses, progress=False).mean
    before = client.get("/metrics").text
    # 16 clients at once, each with 1-3 items; prompts recur across requests (prefix sharing across requests)
    jobs = [list(range(i, min(i + 1 + i % 3, len(prompts)))) for i in range(N_CLIENTS)]

    def ask(idx):
        r = client.post("/v1/rewards", json={"items": [{"prompt": prompts[i], "response": responses[i]} for i in idx]})
        assert r.status_code == 200, r.text
        return idx, r.json()

    for idx, body in _concurrently(ask, jobs):
        got = np.array([x["reward"] for x in body["results"]])
        np.testing.assert_allclose(got, offline[idx], atol=1e-4)
        for x in body["results"]:
            assert x["pessimistic"] == x["reward"] and x["std"] is None and x["members"] is None
            assert x["n_tokens"] > 0 and x["truncated"] is False
        assert body["revision"].startswith("weights:") and len(body["render_spec_hash"]) == 16
    after = client.get("/metrics").text
    n_batches = _metric(after, "rewardlab_batch_requests_count") - _metric(before, "rewardlab_batch_requests_count")
    n_requests = _metric(after, "rewardlab_batch_requests_sum") - _metric(before, "rewardlab_batch_requests_sum")
    assert n_requests == N_CLIENTS and n_batches < N_CLIENTS  # some batches served several requests


def test_messages_items_and_select(client, tiny_scorer, pairs):
    prompts, responses = pairs
    msgs = [{"role": "user", "content": prompts[0]}, {"role": "assistant", "content": responses[0]}]
    r = client.post("/v1/rewards", json={"items": [{"messages": msgs}], "select": "mean"})
    assert r.status_code == 200, r.text
    want = tiny_scorer.score([[msgs[0]]], [[msgs[1]]], progress=False).mean[0]
    assert r.json()["results"][0]["reward"] == pytest.approx(want, abs=1e-4)
    assert r.json()["select"] == "mean"


def test_openrlhf_exact_request_pattern(client, tiny_scorer, pairs):
    """OpenRLHF's remote client: one sample per request, {query, prompts, labels} as JSON, 180 s timeout; it
    reads `rewards` (it sends no auth header; this server has a key, so the shared client adds it)."""
    prompts, responses = pairs
    offline = tiny_scorer.score(prompts, responses, progress=False).mean

    def ask(i):
        body = {"query": [prompts[i] + responses[i]], "prompts": [prompts[i]], "labels": [None]}
        r = client.post("/get_reward", json=body, timeout=180, headers={"Content-Type": "application/json"})
        assert r.status_code == 200, r.text
        return r.json()

    answers = _concurrently(ask, range(len(prompts)))
    got = np.array([a["rewards"][0] for a in answers])
    np.testing.assert_allclose(got, offline, atol=1e-4)
    assert all(a["scores"] == a["rewards"] and a["extra_logs"]["reward_mean"] == a["rewards"] for a in answers)


def test_openrlhf_empty_one_and_raw_queries(client, tiny_scorer):
    assert client.post("/get_reward", json={"query": [], "prompts": [], "labels": []}).json() == {
        "rewards": [], "scores": [], "extra_logs": {}}
    r = client.post("/get_reward", content='{"query": ["What is 2+2? 4"]}')  # curl -d: no JSON content type
    assert r.status_code == 415 and "Content-Type: application/json" in r.json()["detail"]
    r = client.post("/get_reward", content='{"query": ["What is 2+2? 4"]}',
                    headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 200 and len(r.json()["rewards"]) == 1
    # pad tokens and a trailing EOS of the policy's decoding never reach the model
    pad, eos = tiny_scorer.loaded.tokenizer.pad_token, tiny_scorer.loaded.tokenizer.eos_token
    clean = client.post("/get_reward", json={"query": ["2+2? 4"], "prompts": ["2+2?"]}).json()["rewards"][0]
    dirty = client.post("/get_reward", json={"query": [f"2+2? 4{eos}{pad}{pad}"], "prompts": ["2+2?"]}).json()
    assert dirty["rewards"][0] == pytest.approx(clean, abs=1e-6)
    assert client.post("/get_reward", json={"query": ["a", "b"], "prompts": ["a"]}).status_code == 422


def test_verl_classify_pattern(client, tiny_scorer, pairs):
    """verl's reward loop: per sample POST /classify {model, input: the RM chat template's rendering (BOS
    removed), use_activation: false}; it reads data[-1].probs[-1]."""
    prompts, responses = pairs
    tok = tiny_scorer.loaded.tokenizer
    offline = tiny_scorer.score(prompts, responses, progress=False).mean

    def ask(i):
        chat = [{"role": "user", "content": prompts[i]}, {"role": "assistant", "content": responses[i]}]
        text = tok.apply_chat_template(chat, add_generation_prompt=False, tokenize=False)
        if tok.bos_token and text.startswith(tok.bos_token):
            text = text[len(tok.bos_token):]
        r = client.post("/classify", json={"model": "/models/rm", "input": text, "use_activation": False})
        assert r.status_code == 200, r.text
        return r.json()

    answers = _concurrently(ask, range(len(prompts)))
    np.testing.assert_allclose([a["data"][-1]["probs"][-1] for a in answers], offline, atol=1e-4)
    a = answers[0]
    assert a["object"] == "list" and a["model"] == "/models/rm" and a["data"][0]["num_classes"] == 1
    assert a["usage"]["prompt_tokens"] == a["usage"]["total_tokens"] > 0
    chat = [{"role": "user", "content": prompts[0]}, {"role": "assistant", "content": responses[0]}]
    sig = client.post("/classify", json={"messages": chat}).json()["data"][0]["probs"][0]  # default: activation on
    assert sig == pytest.approx(1 / (1 + np.exp(-offline[0])), abs=1e-4)
    batch = client.post("/classify", json={"input": ["a", "b"], "use_activation": False}).json()["data"]
    assert [d["index"] for d in batch] == [0, 1]


def test_httpscorer_uses_the_score_route(live, tiny_scorer, pairs):
    from rewardlab.scoring import HTTPScorer

    prompts, responses = pairs
    remote = HTTPScorer(live.url + "/score", api_key=API_KEY, batch_size=5)
    np.testing.assert_allclose(remote.score(prompts, responses, progress=False).mean,
                               tiny_scorer.score(prompts, responses, progress=False).mean, atol=1e-4)


def test_health_ready_info_metrics(anon, client, tiny_scorer):
    from rewardlab.serve import model_revision, render_spec_hash

    bare = anon  # no key: probes and metrics stay open
    assert bare.get("/health").json() == {"status": "ok"}
    assert bare.get("/ready").status_code == 200
    assert bare.get("/info").status_code == 401
    info = client.get("/info").json()
    lm = tiny_scorer.loaded
    assert info["render_spec_hash"] == render_spec_hash(lm.renderer.spec, lm.tokenizer)
    assert info["revision"] == model_revision(lm)
    assert info["head"]["head"] == "scalar" and info["render_spec"]["mode"] == "chat" and info["auth"] is True
    text = bare.get("/metrics").text
    for name in ("rewardlab_queue_depth", "rewardlab_batch_items_bucket", "rewardlab_tokens_per_second",
                 "rewardlab_request_latency_seconds_bucket", "rewardlab_tokens_total", "rewardlab_requests_total"):
        assert name in text, name


def test_uncertainty_and_every_rule_end_to_end(tiny_decoder):
    """An ensemble head: std, members and each pessimistic rule come back equal to the one pessimism function
    applied offline."""
    from conftest import perturbed_model
    from rewardlab.models import HeadSpec
    from rewardlab.rules import pessimistic_scores
    from rewardlab.scoring import ModelScorer
    from rewardlab.serve import BackgroundServer, ServeSpec, create_app

    lm = perturbed_model(tiny_decoder, HeadSpec("ensemble", n_members=3), seed=5, scale=0.5)
    offline = ModelScorer(lm).score(["2+2?", "2+2?", "Capital of France?"], ["4", "5", "Paris"], progress=False)
    items = [{"prompt": p, "response": r} for p, r in zip(["2+2?", "2+2?", "Capital of France?"], ["4", "5", "Paris"],
                                                          strict=True)]
    with BackgroundServer(create_app(lm, ServeSpec(select="lcb:1"))) as server, http(server.url) as c:
        for rule in ("mean", "lcb:1", "quantile:0.1", "min", "uwo:0.5"):
            res = c.post("/v1/rewards", json={"items": items, "select": rule}).json()["results"]
            want = pessimistic_scores(rule, offline.mean, std=offline.std, members=offline.members)
            np.testing.assert_allclose([x["pessimistic"] for x in res], want, atol=1e-4)
            np.testing.assert_allclose([x["std"] for x in res], offline.std, atol=1e-4)
            np.testing.assert_allclose([x["members"] for x in res], offline.members, atol=1e-4)
        got = c.post("/get_reward", json={"query": ["2+2?4"], "prompts": ["2+2?"]}).json()  # server default lcb:1
        assert got["rewards"][0] == pytest.approx(offline.mean[0] - offline.std[0], abs=1e-4)
        assert got["extra_logs"]["reward_std"][0] == pytest.approx(offline.std[0], abs=1e-4)


def test_classify_activation_never_overflows():
    from rewardlab.serve.app import _sigmoid

    assert _sigmoid(-1000.0) == 0.0 and _sigmoid(1000.0) == 1.0 and _sigmoid(0.0) == 0.5
