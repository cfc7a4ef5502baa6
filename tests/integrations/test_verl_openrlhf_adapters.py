"""verl's compute_score (sync and async) against a live server, and OpenRLHF's reward_func file in-process
(REWARDLAB_MODEL) and against a server (REWARDLAB_URL): rewards equal offline scoring of the same pairs."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
import torch
from adapter_fixtures import rm_scorer_fixture, rm_server_fixture  # noqa: F401  (fixtures)

from rewardlab.errors import RewardlabError
from rewardlab.integrations import openrlhf, verl

PROMPTS = ["What is 2+2?", "What is 2+2?", "Name a colour.", "What is the capital of France?"]
RESPONSES = ["4", "5", "Blue.", "Paris."]


def test_verl_compute_score(rm_scorer, rm_server, monkeypatch):
    want = rm_scorer.score(PROMPTS, RESPONSES, progress=False).mean
    got = [verl.compute_score("gsm8k", r, "4", {"prompt": p, "index": i}, url=rm_server.url)
           for i, (p, r) in enumerate(zip(PROMPTS, RESPONSES, strict=True))]
    np.testing.assert_allclose(got, want, atol=1e-4)
    monkeypatch.setenv("REWARDLAB_URL", rm_server.url)  # configured by the environment; extra_info 'question'
    assert verl.compute_score("gsm8k", RESPONSES[0], None, {"question": PROMPTS[0]}) == pytest.approx(want[0], abs=1e-4)
    chat = [{"role": "user", "content": PROMPTS[2]}]
    assert verl.compute_score("x", RESPONSES[2], None, {"prompt": chat}) == pytest.approx(want[2], abs=1e-4)
    d = verl.compute_score("x", RESPONSES[0], None, {"prompt": PROMPTS[0]}, details=True)
    assert d["score"] == d["rm_mean"] == pytest.approx(want[0], abs=1e-4) and d["rm_std"] == 0.0

    async def many():
        return await asyncio.gather(*(verl.compute_score_async("x", r, None, {"prompt": p})
                                      for p, r in zip(PROMPTS, RESPONSES, strict=True)))

    np.testing.assert_allclose(asyncio.run(many()), want, atol=1e-4)
    with pytest.raises(RewardlabError, match="needs the prompt: add it to the dataset's extra_info"):
        verl.compute_score("x", "4", None, {"index": 0})
    monkeypatch.delenv("REWARDLAB_URL")
    with pytest.raises(RewardlabError, match="needs the server"):
        verl.compute_score("x", "4", None, {"prompt": "p"})


@pytest.mark.parametrize("where", ["model", "url"])
def test_openrlhf_reward_func(rm_scorer, rm_server, tiny_rm, monkeypatch, where):
    monkeypatch.delenv("REWARDLAB_URL", raising=False)
    monkeypatch.delenv("REWARDLAB_MODEL", raising=False)
    monkeypatch.setenv("REWARDLAB_MODEL" if where == "model" else "REWARDLAB_URL",
                       tiny_rm if where == "model" else rm_server.url)
    monkeypatch.setenv("REWARDLAB_DEVICE", "cpu")
    want = rm_scorer.score(PROMPTS, RESPONSES, progress=False).mean
    eos = rm_scorer.loaded.tokenizer.eos_token
    queries = [p + r + eos for p, r in zip(PROMPTS, RESPONSES, strict=True)]  # as the policy decodes them
    out = openrlhf.reward_func(queries, PROMPTS, ["4", "5", "blue", "Paris"])
    assert isinstance(out["rewards"], torch.Tensor) and isinstance(out["scores"], torch.Tensor)
    np.testing.assert_allclose(out["rewards"].numpy(), want, atol=1e-4)
    np.testing.assert_allclose(out["extra_logs"]["reward_mean"].numpy(), want, atol=1e-4)
    empty = openrlhf.reward_func([], [], [])
    assert empty["rewards"].shape == (0,)
    raw = openrlhf.reward_func(["What is 2+2? 4"], None, None)["rewards"]
    assert raw.shape == (1,) and torch.isfinite(raw).all()


# the policy's chat template, as OpenRLHF renders its prompts (apply_chat_template with the *policy's* tokenizer)
POLICY_TEMPLATES = {
    "chatml": ("{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
               "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}", "<|im_end|>"),
    "llama3": ("<|begin_of_text|>{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n"
               "{{ m.content }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}"
               "<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}", "<|eot_id|>"),
}
CHATS = [[{"role": "user", "content": p}] for p in PROMPTS[1:]] + [
    [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "What is 2+2?"}]]


def _openrlhf_batch(tiny_decoder, policy: str):
    """(prompts, queries) as OpenRLHF sends them: prompts rendered by the policy's template, queries = prompt +
    response + the policy's stop token."""
    from transformers import AutoTokenizer

    template, stop = POLICY_TEMPLATES[policy]
    tok = AutoTokenizer.from_pretrained(tiny_decoder)
    prompts = [tok.apply_chat_template(c, chat_template=template, add_generation_prompt=True, tokenize=False)
               for c in CHATS]
    return prompts, [p + r + stop for p, r in zip(prompts, RESPONSES, strict=True)]


@pytest.mark.parametrize("policy", sorted(POLICY_TEMPLATES))
@pytest.mark.parametrize("where", ["model", "url", "server"])
def test_openrlhf_templated_prompts(rm_scorer, rm_server, tiny_rm, tiny_decoder, monkeypatch, policy, where):
    """The reward is that of the conversation rendered by the reward model's own template: the policy's template
    is parsed away, not wrapped again as user text, and its stop token never reaches the response."""
    prompts, queries = _openrlhf_batch(tiny_decoder, policy)
    want = rm_scorer.score(CHATS, RESPONSES, progress=False).mean
    wrapped = rm_scorer.score(prompts, RESPONSES, progress=False).mean  # what wrapping the template again gives
    assert np.abs(want - wrapped).max() > 1e-3  # the check can tell them apart
    if where == "server":
        import httpx

        got = httpx.post(rm_server.url + "/get_reward", json={"query": queries, "prompts": prompts, "labels": None},
                         timeout=30).json()["rewards"]
    else:
        monkeypatch.delenv("REWARDLAB_URL", raising=False)
        monkeypatch.delenv("REWARDLAB_MODEL", raising=False)
        monkeypatch.setenv("REWARDLAB_MODEL" if where == "model" else "REWARDLAB_URL",
                           tiny_rm if where == "model" else rm_server.url)
        monkeypatch.setenv("REWARDLAB_DEVICE", "cpu")
        got = openrlhf.reward_func(queries, prompts, None)["rewards"].numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_openrlhf_per_sample_threads_and_large_batches(rm_scorer, rm_server, tiny_rm, tiny_decoder, monkeypatch):
    """OpenRLHF calls reward_func one sample at a time from threads; a batch beyond the server's max_items (256)
    is sent in parts."""
    import concurrent.futures

    prompts, queries = _openrlhf_batch(tiny_decoder, "chatml")
    want = rm_scorer.score(CHATS, RESPONSES, progress=False).mean
    monkeypatch.delenv("REWARDLAB_URL", raising=False)
    monkeypatch.setenv("REWARDLAB_MODEL", tiny_rm)
    monkeypatch.setenv("REWARDLAB_DEVICE", "cpu")
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda i: float(openrlhf.reward_func([queries[i % 4]], [prompts[i % 4]])["rewards"][0]),
                            range(48)))
    np.testing.assert_allclose(got, [want[i % 4] for i in range(48)], atol=1e-4)
    monkeypatch.delenv("REWARDLAB_MODEL")
    monkeypatch.setenv("REWARDLAB_URL", rm_server.url)
    out = openrlhf.reward_func(queries * 75, prompts * 75, None)  # 300 queries
    np.testing.assert_allclose(out["rewards"].numpy(), np.tile(want, 75), atol=1e-4)
    assert out["extra_logs"]["reward_mean"].shape == (300,)


def test_verl_warns_when_the_prompt_is_only_a_question(rm_server, caplog):
    """verl's gsm8k data keep the bare question in extra_info; the policy saw it with an instruction."""
    verl._warned.clear()
    with caplog.at_level("WARNING", logger="rewardlab.integrations.verl"):
        verl.compute_score("gsm8k", "4", "4", {"question": "What is 2+2?"}, url=rm_server.url)
        verl.compute_score("gsm8k", "4", "4", {"question": "What is 2+2?"}, url=rm_server.url)
        verl.compute_score("gsm8k", "4", "4", {"prompt": "What is 2+2?", "raw_prompt": "x"}, url=rm_server.url)
    warned = [r.getMessage() for r in caplog.records if "extra_info['prompt']" in r.getMessage()]
    assert len(warned) == 1 and "'question'" in warned[0]  # once, and not when 'prompt' is there
    with pytest.raises(RewardlabError, match="needs the prompt"):
        verl.compute_score("x", "4", None, {"raw_prompt": [{"role": "user", "content": "hi"}]}, url=rm_server.url)
