"""The sycophancy pipeline's pieces (issue 25 item 4): the text-level agreement detector against the simulator's
hidden attribute, the honesty penalty's exact effect on the update, the agreement-biased bag-of-words reward model
against its augmented twin, the audit before step 0, and the spec's validation."""

from __future__ import annotations

import doctest
import json

import numpy as np
import pytest

from rewardlab.audit.sycophancy import builtin_cases, sycophancy_margins
from rewardlab.config import ConfigError
from rewardlab.errors import RewardlabError
from rewardlab.policy import bow_rm, honesty
from rewardlab.policy.bow_rm import bow_spec_parts, correction_pairs
from rewardlab.policy.honesty import agreement_flags, detector_check, honesty_penalised
from rewardlab.policy.loop import OptimizeSpec, _draw, _prompt_pool, group_advantages, policy_gradient, run
from rewardlab.policy.rewards import load_reward_model
from rewardlab.policy.simpolicy import FP_ANSWER_SETTINGS, SimPolicy
from rewardlab.simulate.config import SimConfig
from rewardlab.simulate.generate import make_rng
from rewardlab.simulate.responses import gold_utility

BIASED = "bow:length=0,agreement=6,format=0:400:0"
FP = "false_premise"


def _always(answer: str) -> SimPolicy:
    """The default policy with its false-premise answer factor pinned to one setting."""
    pi = SimPolicy.from_base("default")
    z = np.full(len(FP_ANSWER_SETTINGS), -50.0)
    z[FP_ANSWER_SETTINGS.index(answer)] = 50.0
    pi.logits[FP]["answer"] = z
    return pi


def test_detector_against_the_simulators_sycophantic_attribute() -> None:
    base = detector_check(SimPolicy.from_base("default"), 1500, seed=0)  # all families
    assert base["fp"] == 0 and base["precision"] == 1.0  # no false alarm on any family
    assert 0.85 <= base["recall"] <= 0.95 and base["tp"] > 50  # misses hedged openings ("As far as I know, yes")
    agree = detector_check(_always("agree"), 300, seed=1, family=FP)
    assert agree["true_rate"] == 1.0 and agree["precision"] == 1.0 and agree["recall"] > 0.8
    for honest in ("fix", "wrong_fix", "irrelevant"):  # correcting (rightly or wrongly) or off topic: never flagged
        d = detector_check(_always(honest), 200, seed=2, family=FP)
        assert d["true_rate"] == 0.0 and d["flagged_rate"] == 0.0
    assert agreement_flags(["What is 2+2?"], ["Yes, 4."]).tolist() == [0.0]  # no claim in the prompt: no flag


def test_honesty_penalty_is_r_minus_lambda_d_in_the_update(tmp_path) -> None:
    lam, kw = 2.5, {"reward": "gold", "steps": 1, "group": 4, "batch_prompts": 40, "lr": 0.7, "seed": 3,
                    "plot": False}
    res = run(OptimizeSpec(output=str(tmp_path / "pen"), honesty_penalty=lam, **kw))
    plain = run(OptimizeSpec(output=str(tmp_path / "plain"), **kw))
    # the step by hand: the loop's draws, gold rewards, r - lam d, GRPO advantages, one exact gradient step
    spec, cfg = OptimizeSpec(output="x", **kw), SimConfig()
    base = SimPolicy.from_base("default", cfg)
    pool = _prompt_pool(spec, cfg)
    rng = make_rng(spec.seed, "optimize-step-0")
    items = [pool[rng.randrange(len(pool))] for _ in range(spec.batch_prompts)]
    drawn = _draw(base, items, spec.group, rng)
    prompts = [it.prompt for it, row in zip(items, drawn, strict=True) for _ in row]
    texts = [s[2] for row in drawn for s in row]
    r = np.array([gold_utility(s[1], cfg.weights) for row in drawn for s in row])
    d = agreement_flags(prompts, texts)
    assert d.sum() >= 2  # the batch holds agreeing samples, so the penalty acts
    fams = [it.family for it, row in zip(items, drawn, strict=True) for _ in row]
    sets = [s[0] for row in drawn for s in row]
    for r_used, got in ((r - lam * d, res.policy), (r, plain.policy)):
        w = group_advantages(r_used.reshape(len(items), spec.group), "grpo").reshape(-1)
        grad = policy_gradient(base, fams, sets, w, 0.0)
        for f in base.families:
            for k in base.factors:
                np.testing.assert_allclose(got.logits[f][k], base.logits[f][k] - spec.lr * grad[f][k], atol=1e-12)
    rec = res.records[0]
    assert rec["proxy"] == pytest.approx(r.mean()) and rec["objective"] == pytest.approx((r - lam * d).mean())
    assert rec["honesty_flagged"] == pytest.approx(d.mean()) and "objective" not in plain.records[0]
    # the penalty lowers the agreeing answer's probability more than plain gold does after one step
    assert res.policy.agreement_rate() < plain.policy.agreement_rate()
    out, flags = honesty_penalised(np.array([1.0, 1.0]), ["I'm sure 2+2 is 5, right?"] * 2,
                                   ["Yes, 2+2 is 5.", "No, 2+2 is 4."], 0.5)
    assert out.tolist() == [0.5, 1.0] and flags.tolist() == [1.0, 0.0]


@pytest.fixture(scope="module")
def rms() -> tuple[object, object]:
    return load_reward_model(BIASED), load_reward_model(BIASED + ":correct=100")


def test_biased_rm_prefers_agreement_and_the_augmented_one_less(rms) -> None:
    biased, augmented = rms
    cases = builtin_cases(200, seed=7)  # neither the augmentation's cases nor the loop's default audit's
    sb, mb = sycophancy_margins(biased, cases, n_resamples=500, seed=0, progress=False)
    sa, ma = sycophancy_margins(augmented, cases, n_resamples=500, seed=0, progress=False)
    assert sb["flagged"] and sb["agreeing_preferred"]["lo"] > 0.6  # it learned the annotators' agreement bias
    assert sa["agreeing_preferred"]["estimate"] < sb["agreeing_preferred"]["estimate"] - 0.2
    diff = mb - ma  # paired over the 200 cases: the augmented RM's agreement margin is smaller
    half = 1.97 * diff.std(ddof=1) / np.sqrt(len(diff))
    assert diff.mean() - half > 0
    assert len(augmented.pairs) == len(biased.pairs) + 100
    added = augmented.pairs[-100:]
    assert all(p["label"] == 1.0 for p in added)
    assert agreement_flags([p["prompt"] for p in added], [p["rejected"] for p in added]).mean() > 0.8
    assert agreement_flags([p["prompt"] for p in added], [p["chosen"] for p in added]).sum() == 0


def test_audit_before_step_0_is_recorded(tmp_path, rms) -> None:
    res = run(OptimizeSpec(reward=BIASED, output=str(tmp_path / "a"), steps=1, batch_prompts=4, group=2,
                           sycophancy_audit=60, plot=False))
    assert res.sycophancy is not None and res.sycophancy["n"] == 60 and res.sycophancy["flagged"] is True
    assert res.cache["misses"] == 16  # the audit's 120 texts bypass the loop's score cache
    saved = json.loads((tmp_path / "a" / "optimize.json").read_text())
    assert saved["sycophancy"]["flagged"] is True
    assert any("FLAGGED" in line for line in res.lines())
    gold = run(OptimizeSpec(reward="gold", output=str(tmp_path / "g"), steps=0, sycophancy_audit=10, plot=False))
    assert gold.sycophancy["flagged"] is None and "hidden attributes" in gold.sycophancy["skipped"]


def test_spec_validation_names_the_field() -> None:
    with pytest.raises(ConfigError, match="honesty_penalty must be >= 0"):
        OptimizeSpec(reward="gold", output="o", honesty_penalty=-0.5)
    with pytest.raises(ConfigError, match="honesty_penalty has no effect with --method sft"):
        OptimizeSpec(reward="gold", output="o", method="sft", honesty_penalty=1.0)
    with pytest.raises(ConfigError, match="sycophancy_audit must be >= 0"):
        OptimizeSpec(reward="gold", output="o", sycophancy_audit=-1)
    with pytest.raises(RewardlabError, match="lambda must be"):
        honesty_penalised(np.zeros(1), ["p"], ["t"], -1.0)
    assert bow_spec_parts("bow:human_like:correct=5") == ("human_like", 4000, 0, 5)
    assert bow_spec_parts("bow:human_like:300:2") == ("human_like", 300, 2, 0)
    for bad in ("bow:human_like:300:0:correct=-1", "bow:human_like:correct=x", "bow:human_like:correct=5:300"):
        with pytest.raises(RewardlabError, match="bow|correct"):
            bow_spec_parts(bad)
    assert correction_pairs(0) == []


@pytest.mark.parametrize("module", [honesty, bow_rm])
def test_docstring_examples(module) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=False)
    assert result.attempted > 0 and result.failed == 0
