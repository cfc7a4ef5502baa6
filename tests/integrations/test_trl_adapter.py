"""The TRL adapter: real GRPOTrainer runs (tiny random Llama policy, 2 steps, CPU, no hub) whose reward_funcs is
the rewardlab reward function, once in-process and once against a live server (the async variant); every reward
TRL received equals offline scoring of the same (prompt, completion), rendered by the reward model's RenderSpec."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from adapter_fixtures import rm_scorer_fixture, rm_server_fixture  # noqa: F401  (fixtures)

from rewardlab.integrations.trl import AsyncRewardFunction, RewardFunction
from rewardlab.scoring import RewardOutput

PROMPTS = [[{"role": "user", "content": q}] for q in ("What is 2+2?", "Name a colour.", "What is 7 times 6?",
                                                       "What is the capital of France?")]


class Recording(RewardFunction):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: list[tuple] = []

    def __call__(self, prompts, completions, completion_ids=None, **kwargs):
        out = super().__call__(prompts, completions, completion_ids, **kwargs)
        self.calls.append((prompts, completions, completion_ids, sorted(kwargs), out))
        return out


class AsyncRecording(AsyncRewardFunction):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: list[tuple] = []

    async def __call__(self, prompts, completions, completion_ids=None, **kwargs):
        out = await super().__call__(prompts, completions, completion_ids, **kwargs)
        self.calls.append((prompts, completions, completion_ids, sorted(kwargs), out))
        return out


def _grpo(tiny_decoder, reward, out_dir):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    policy = AutoModelForCausalLM.from_pretrained(tiny_decoder)
    tok = AutoTokenizer.from_pretrained(tiny_decoder)
    args = GRPOConfig(output_dir=str(out_dir), max_steps=2, per_device_train_batch_size=4, num_generations=2,
                      max_completion_length=8, logging_steps=1, report_to=[], use_cpu=True, save_strategy="no",
                      bf16=False, seed=0, disable_tqdm=True)
    trainer = GRPOTrainer(model=policy, reward_funcs=reward, args=args, processing_class=tok,
                          train_dataset=Dataset.from_list([{"prompt": p} for p in PROMPTS]))
    trainer.train()
    return trainer


def _check(trainer, reward, rm_scorer):
    assert trainer.state.global_step == 2
    assert len(reward.calls) >= 2
    for prompts, completions, completion_ids, kw, out in reward.calls:
        assert isinstance(completions[0], list) and completions[0][0]["role"] == "assistant"  # conversational
        assert completion_ids is not None and {"trainer_state", "log_metric", "log_extra"} <= set(kw)
        want = rm_scorer.score(prompts, completions, progress=False).mean
        np.testing.assert_allclose(out, want, atol=1e-4)
    logged = [h for h in trainer.state.log_history if f"rewards/{reward.__name__}/mean" in h]
    assert len(logged) == 2 and all(np.isfinite(h[f"rewards/{reward.__name__}/mean"]) for h in logged)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # transformers' renames, raised inside TRL
def test_grpo_in_process(tiny_decoder, rm_scorer, tmp_path):
    reward = Recording(rm_scorer, name="rm_local")
    _check(_grpo(tiny_decoder, reward, tmp_path), reward, rm_scorer)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_grpo_against_a_live_server(tiny_decoder, rm_scorer, rm_server, tmp_path):
    reward = AsyncRecording(rm_server.url, name="rm_remote")
    _check(_grpo(tiny_decoder, reward, tmp_path), reward, rm_scorer)


def test_sync_remote_and_async_local_variants(rm_scorer, rm_server):
    prompts = ["What is 2+2?", "What is 2+2?", "Name a colour."]
    completions = ["4", "5", "Blue."]
    want = rm_scorer.score(prompts, completions, progress=False).mean
    np.testing.assert_allclose(RewardFunction(rm_server.url)(prompts, completions), want, atol=1e-4)
    got = asyncio.run(AsyncRewardFunction(rm_scorer)(prompts=prompts, completions=completions, completion_ids=None))
    np.testing.assert_allclose(got, want, atol=1e-4)
    with pytest.raises(ValueError, match="rule 'lcb:1' needs std or members"):
        RewardFunction(rm_scorer, select="lcb:1")(prompts, completions)
    with pytest.raises(ValueError, match="unknown rule"):
        RewardFunction(rm_scorer, select="best")


def test_pessimism_and_uncertainty_logging():
    class Uncertain:
        name = "uncertain"

        def score(self, prompts, responses, progress=True):
            return RewardOutput([1.0, 2.0], std=[0.5, 0.1], members=[[0.5, 1.5], [1.9, 2.1]])

    metrics, extra = {}, {}
    reward = RewardFunction(Uncertain(), select="lcb:2")
    got = reward(["a", "b"], ["c", "d"], None, log_metric=metrics.__setitem__, log_extra=extra.__setitem__)
    assert got == pytest.approx([0.0, 1.8])
    assert metrics["rewardlab/reward_std"] == pytest.approx(0.3) and extra["rm_std"] == [0.5, 0.1]
    assert RewardFunction(Uncertain(), select="min")(["a", "b"], ["c", "d"]) == [0.5, 1.9]
