"""Scoring N responses per prompt with the prompt run once (decoder key/value cache) gives the plain rewards (1e-4),
whatever the token budget; encoders never take that path."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import perturbed_model
from rewardlab.errors import RewardlabError
from rewardlab.models import HeadSpec
from rewardlab.scoring import ModelScorer
from rewardlab.scoring.prefix import plan_batches, prefix_groups

PROMPTS = ["What is 2+2?", "Name the capital of France, please, and tell me something about it.",
           "\n\nHuman: hi\n\nAssistant: hello!\n\nHuman: tell me a joke\n\nAssistant:"]
RESPONSES = ["4", "four", "It is 4, of course.", "", "Paris is the capital of France. It has the Eiffel Tower.",
             "Lyon", "Why did the chicken cross the road? To get to the other side."]


def _items(n_per_prompt: int):
    ps, rs = [], []
    for i, p in enumerate(PROMPTS):
        for j in range(n_per_prompt):
            ps.append(p)
            rs.append(RESPONSES[(i * 3 + j) % len(RESPONSES)])
    ps.append("A prompt with a single response")
    rs.append("only one")
    return ps, rs


def _loaded(backbone: str, head: HeadSpec = HeadSpec(), max_length: int = 512):
    return perturbed_model(backbone, head, max_length, seed=2, scale=0.3)


@pytest.mark.parametrize("head", [HeadSpec(), HeadSpec(pooling="mean"), HeadSpec("ensemble", 3, True)])
def test_prefix_scoring_equals_plain(tiny_decoder, head):
    lm = _loaded(tiny_decoder, head)
    ps, rs = _items(4)
    plain = ModelScorer(lm, prefix_sharing=False).score(ps, rs, progress=False)
    fast_scorer = ModelScorer(lm)
    assert fast_scorer.prefix_sharing
    for budget in (64, 512, 16384):  # one group per batch ... everything in one batch
        fast_scorer.token_budget = budget
        fast = fast_scorer.score(ps, rs, progress=False)
        np.testing.assert_allclose(fast.mean, plain.mean, atol=1e-4, rtol=0)
        if plain.std is not None:
            np.testing.assert_allclose(fast.std, plain.std, atol=1e-4, rtol=0)
            np.testing.assert_allclose(fast.members, plain.members, atol=1e-4, rtol=0)


def test_prefix_scoring_best_of_16_with_truncation(tiny_decoder):
    lm = _loaded(tiny_decoder, max_length=48)
    ps, rs = _items(16)
    enc = lm.renderer.encode(ps, rs)
    assert any(e["truncated"] for e in enc)
    groups, singles = prefix_groups(enc)
    assert sum(len(g[1]) for g in groups) + len(singles) == len(ps)
    assert len(groups) >= len(PROMPTS)
    plan = plan_batches(groups, enc, token_budget=256, max_batch=20)
    assert sorted(i for _, chunks in plan for c in chunks for i in c) == sorted(i for g in groups for i in g[1])
    for gs, chunks in plan:
        assert all(len(c) <= 20 for c in chunks)
        owned = {i for g in gs for i in groups[g][1]}
        assert all(i in owned for c in chunks for i in c)
    plain = ModelScorer(lm, prefix_sharing=False).score(ps, rs, progress=False)
    fast = ModelScorer(lm, token_budget=256, max_batch=20).score(ps, rs, progress=False)
    np.testing.assert_allclose(fast.mean, plain.mean, atol=1e-4, rtol=0)


def test_encoder_scores_without_prefix_sharing():
    lm = _loaded("minilm")
    assert not ModelScorer(lm).prefix_sharing
    with pytest.raises(RewardlabError, match="causal decoder"):
        ModelScorer(lm, prefix_sharing=True)


def test_tiny_llama_can_share_its_prompt(tiny_decoder):
    """Guards the transformers 5.24 rename (past_key_values -> cache): the decoder must be found able to share."""
    from rewardlab.models.reward_model import _unwrap_peft, cache_argument

    lm = _loaded(tiny_decoder)
    assert lm.model.prefix_sharing_problem() is None
    assert cache_argument(_unwrap_peft(lm.model.hf).base_model) in ("cache", "past_key_values")
    assert ModelScorer(lm).prefix_sharing


def test_automatic_fallback_is_logged_once(tiny_decoder, monkeypatch, caplog):
    """A causal decoder that cannot share its prompt says why, once, instead of silently running slower."""
    import logging

    from rewardlab import runtime
    from rewardlab.models import reward_model

    lm = _loaded(tiny_decoder)
    monkeypatch.setattr(reward_model, "cache_argument", lambda body: None)
    monkeypatch.setattr(runtime, "_said", set())
    with caplog.at_level(logging.INFO, logger="rewardlab"):
        for _ in range(3):
            assert not ModelScorer(lm).prefix_sharing
    notes = [r.getMessage() for r in caplog.records if "prefix sharing is off" in r.getMessage()]
    assert len(notes) == 1 and "no key/value cache argument" in notes[0]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="rewardlab"):
        ModelScorer(lm, prefix_sharing=False)
        ModelScorer(_loaded("minilm"))  # an encoder never shares: nothing to report
    assert not caplog.records
