"""The TRL adapter: real GRPOTrainer runs (tiny random Llama policy, 2 steps, CPU, no hub) whose reward_funcs is
the rewardlab reward function, once in-process and once against a live server (the async variant); every reward
TRL received equals offline scoring of the same (prompt, completion), rendered by the reward model's RenderSpec."""

from __future__ import annotations

import asyncio
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

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
    import trl
    from packaging.version import Version

    assert trainer.state.global_step == 2
    assert len(reward.calls) >= 2
    # TRL 1.0 added the logging callbacks; 0.29 passes trainer_state only
    passed = {"trainer_state"} | ({"log_metric", "log_extra"} if Version(trl.__version__) >= Version("1.0") else set())
    for prompts, completions, completion_ids, kw, out in reward.calls:
        assert isinstance(completions[0], list) and completions[0][0]["role"] == "assistant"  # conversational
        assert completion_ids is not None and passed <= set(kw)
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
    import trl

    if os.environ.get(LOWEST_ENV):  # the run below, in a child process with the oldest TRL first on the path
        assert trl.__version__ == os.environ[LOWEST_ENV], trl.__file__
    reward = AsyncRecording(rm_server.url, name="rm_remote")
    _check(_grpo(tiny_decoder, reward, tmp_path), reward, rm_scorer)


ROOT = Path(__file__).resolve().parents[2]
LOWEST_ENV = "REWARDLAB_TRL_LOWEST"


def _declared_lowest_trl() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    found = set(re.findall(r'"trl>=([0-9.]+)"', text))
    assert len(found) == 1, f"the extras declare different TRL lower bounds: {found}"
    return found.pop()


def test_async_reward_function_is_a_coroutine_function_to_every_trl():
    """What each TRL checks: 0.29 asyncio.iscoroutinefunction(f), 1.0-1.15 inspect.iscoroutinefunction(f), 1.16
    also f.__call__. An instance with `async def __call__` passed only the last (older trainers called it
    synchronously and got a coroutine)."""
    reward = AsyncRewardFunction("http://127.0.0.1:1", name="x")
    assert inspect.iscoroutinefunction(reward) and asyncio.iscoroutinefunction(reward)
    assert str(inspect.signature(reward)) == "(prompts, completions, completion_ids=None, **kwargs)"
    assert not inspect.iscoroutinefunction(RewardFunction("http://127.0.0.1:1"))


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_grpo_on_the_oldest_declared_trl():
    """The other end of the declared range: the async live-server test, run by the oldest TRL pyproject allows
    (installed beside the locked one by `make test`'s venv step, see Makefile TRL_LOWEST)."""
    lowest = _declared_lowest_trl()
    target = ROOT / ".venv" / f"trl-{lowest}"
    if not (target / "trl").is_dir():
        pytest.skip(f"TRL {lowest} is not installed at {target} (make's venv step installs it)")
    env = {**os.environ, "PYTHONPATH": str(target), LOWEST_ENV: lowest}
    out = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(Path(__file__)),
                          "-k", "test_grpo_against_a_live_server"], env=env, capture_output=True, text=True,
                         cwd=ROOT, timeout=600)
    assert out.returncode == 0 and "1 passed" in out.stdout, out.stdout[-3000:] + out.stderr[-2000:]


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
