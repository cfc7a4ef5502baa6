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
