"""Scorers: generic HF loading equals a direct forward, batch invariance, callable, file and HTTP scorers."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch

from rewardlab.errors import RewardlabError
from rewardlab.scoring import CallableScorer, FileScorer, HTTPScorer, ModelScorer, RewardOutput, get_scorer
from rewardlab.simulate import simulate_pairs

ROWS = simulate_pairs(40, seed=11)
PROMPTS = [r["prompt"] for r in ROWS] + [r["prompt"] for r in ROWS]
RESPONSES = [r["chosen"] for r in ROWS] + [r["rejected"] for r in ROWS]


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A small BertForSequenceClassification (num_labels=1, random weights) with the MiniLM tokenizer."""
    from transformers import BertConfig, BertForSequenceClassification

    from rewardlab.models.backbone import load_tokenizer

    tok = load_tokenizer("minilm")
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                     intermediate_size=128, num_labels=1)
    torch.manual_seed(0)
    model = BertForSequenceClassification(cfg).eval()
    path = tmp_path_factory.mktemp("hfrm") / "bert-rm"
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return str(path), model, tok


def test_generic_hf_encoder_rm_matches_direct_forward(tiny_bert):
    path, model, tok = tiny_bert
    ours = get_scorer(path).score(PROMPTS[:10], RESPONSES[:10], progress=False).mean
    with torch.no_grad():
        direct = [float(model(**tok(p, r, return_tensors="pt")).logits[0, 0]) for p, r in
                  zip(PROMPTS[:10], RESPONSES[:10], strict=True)]
    np.testing.assert_allclose(ours, direct, atol=1e-5)


def test_generic_hf_decoder_rm_with_chat_template_matches_direct_forward(tmp_path, tiny_decoder):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_decoder)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_decoder, num_labels=1)
    model.config.pad_token_id = tok.pad_token_id
    model.save_pretrained(tmp_path / "dec-rm")
    tok.save_pretrained(tmp_path / "dec-rm")
    model.eval()
    ours = get_scorer(str(tmp_path / "dec-rm")).score(PROMPTS[:6], RESPONSES[:6], progress=False).mean
    direct = []
    with torch.no_grad():
        for p, r in zip(PROMPTS[:6], RESPONSES[:6], strict=True):
            text = tok.apply_chat_template([{"role": "user", "content": p}, {"role": "assistant", "content": r}],
                                           tokenize=False)
            enc = tok(text, add_special_tokens=False, return_tensors="pt")
            direct.append(float(model(**enc).logits[0, 0]))
    np.testing.assert_allclose(ours, direct, atol=1e-5)


def test_scores_do_not_depend_on_batch_size_or_composition(tiny_bert):
    path, _, _ = tiny_bert
    scorer = get_scorer(path)
    full = scorer.score(PROMPTS, RESPONSES, progress=False).mean
    for budget, max_batch in ((256, 2), (4096, 7), (100000, 128)):
        s = ModelScorer(scorer.loaded, token_budget=budget, max_batch=max_batch)
        np.testing.assert_allclose(s.score(PROMPTS, RESPONSES, progress=False).mean, full, atol=1e-4)
    # a subset scored alone, and in reverse order, gives the same numbers
    idx = list(range(0, len(PROMPTS), 3))[::-1]
    sub = scorer.score([PROMPTS[i] for i in idx], [RESPONSES[i] for i in idx], progress=False).mean
    np.testing.assert_allclose(sub, full[idx], atol=1e-4)


def test_callable_len_scorer_reproduces_the_longer_wins_baseline(tmp_path):
    from rewardlab.eval.evaluate import evaluate
    from rewardlab.simulate.datasets import parse_rows

    pairs = parse_rows(simulate_pairs(300, seed=2))
    res = evaluate(CallableScorer(lambda prompt, response: len(response)), {"p": pairs}, tmp_path, n_resamples=200,
                   plots=False)
    m = res["datasets"]["p"]
    assert m["accuracy"]["estimate"] == m["length_baselines"]["longer"]["estimate"]
    assert m["accuracy"]["lo"] == m["length_baselines"]["longer"]["lo"]


def test_file_scorer_round_trip(tmp_path, tiny_bert):
    from rewardlab.scoring.rows import score_records
    from rewardlab.simulate.datasets import parse_rows

    path, _, _ = tiny_bert
    pairs = parse_rows(ROWS[:15])
    rows = score_records(get_scorer(path), pairs, progress=False)
    with open(tmp_path / "s.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    fs = get_scorer(f"file:{tmp_path / 's.jsonl'}")
    assert isinstance(fs, FileScorer)
    back = fs.score([p.prompt for p in pairs], [p.chosen for p in pairs], progress=False).mean
    np.testing.assert_allclose(back, [r["reward"] for r in rows if r["role"] == "chosen"])
    with pytest.raises(RewardlabError, match="no score"):
        fs.score(["unknown prompt"], ["unknown response"], progress=False)


class _Handler(BaseHTTPRequestHandler):
    fail_next = 0
    requests: list = []

    def log_message(self, *args):  # keep test output clean
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Handler.requests.append((self.path, body))
        if _Handler.fail_next > 0:
            _Handler.fail_next -= 1
            self.send_response(503)
            self.end_headers()
            return
        if self.path == "/get_reward":  # OpenRLHF shape: full texts in, rewards out
            out = {"rewards": [float(len(q)) for q in body["query"]]}
        elif self.path == "/score":  # rewardlab shape: prompts + responses, rewards and std
            out = {"rewards": [float(len(r)) for r in body["responses"]], "std": [0.5] * len(body["responses"])}
        else:
            self.send_response(404)
            self.end_headers()
            return
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    _Handler.requests = []
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def test_http_scorer_openrlhf_and_rewardlab_protocols(server):
    prompts, responses = ["Q1 ", "Q22 ", "Q333 "], ["a", "bb", "ccc"]
    s = get_scorer(f"{server}/get_reward")
    assert isinstance(s, HTTPScorer) and s.protocol == "openrlhf"
    s.batch_size = 2
    out = s.score(prompts, responses, progress=False)
    np.testing.assert_allclose(out.mean, [len(p) + len(r) for p, r in zip(prompts, responses, strict=True)])
    assert [len(b["query"]) for _, b in _Handler.requests] == [2, 1]
    out = HTTPScorer(f"{server}/score").score(prompts, responses, progress=False)
    np.testing.assert_allclose(out.mean, [1, 2, 3])
    np.testing.assert_allclose(out.std, [0.5] * 3)


def test_http_scorer_retries_server_errors_then_gives_a_clear_error(server):
    _Handler.fail_next = 2
    out = HTTPScorer(f"{server}/score", retries=3).score(["p"], ["xyz"], progress=False)
    assert out.mean.tolist() == [3.0]
    _Handler.fail_next = 10
    with pytest.raises(RewardlabError, match="no answer after 2 attempts"):
        HTTPScorer(f"{server}/score", retries=1).score(["p"], ["xyz"], progress=False)
    _Handler.fail_next = 0
    with pytest.raises(RewardlabError, match="HTTP 404"):
        HTTPScorer(f"{server}/nope", protocol="rewardlab").score(["p"], ["x"], progress=False)
    # the transport is the server client's: one retry rule (backoff, Retry-After, 429) for every client
    from rewardlab.scoring.client import RewardClient

    remote = HTTPScorer(f"{server}/score")
    remote.score(["p"], ["x"], progress=False)
    assert isinstance(remote._client, RewardClient) and remote._route == "/score"


def test_reward_output_pessimism():
    out = RewardOutput(np.array([1.0, 2.0]), np.array([1.0, 0.5]), np.array([[0.0, 2.0], [1.5, 2.5]]))
    np.testing.assert_allclose(out.quantile(0.1), [1 - 1.2815516, 2 - 0.5 * 1.2815516], atol=1e-6)
    np.testing.assert_allclose(out.pessimistic("lcb2"), [-1.0, 1.0])
    np.testing.assert_allclose(out.pessimistic("min"), [0.0, 1.5])
    np.testing.assert_allclose(out.pessimistic("uwo0.5"), [0.5, 1.875])
    with pytest.raises(ValueError):
        out.pessimistic("max")
