"""The optimisation loop: exact gradients, gold optimisation without a proxy gap, Goodhart under a length-biased
proxy, a text Scorer with its cache, exact resume after a kill, and failing scorers."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from rewardlab.config import ConfigError
from rewardlab.errors import RewardlabError
from rewardlab.policy.loop import OptimizeSpec, group_advantages, policy_gradient, policy_loss, run
from rewardlab.policy.simpolicy import FACTORS, SimPolicy
from rewardlab.scoring.output import RewardOutput

SMALL = {"batch_prompts": 8, "group": 4, "n_prompts": 64, "plot": False}


class WordScorer:
    """A text-only proxy: the number of words, optionally failing or returning NaN at one call."""

    name = "words"

    def __init__(self, fail_at_call: int | None = None, nan: bool = False):
        self.calls = 0
        self.fail_at_call, self.nan = fail_at_call, nan

    def score(self, prompts, responses, progress=True):
        self.calls += 1
        vals = [float(len(r.split())) for r in responses]
        if self.calls == self.fail_at_call:
            if not self.nan:
                raise ConnectionError("reward server went away")
            vals[1] = float("nan")
        return RewardOutput(vals)


def _strip(recs):
    return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in recs]


def test_gradient_equals_finite_differences():
    pi = SimPolicy.from_base("sys-c")
    rng = np.random.default_rng(0)
    pi.set_flat(pi.flat() + 0.5 * rng.normal(size=pi.flat().shape))
    r = random.Random(1)
    fams = [r.choice(pi.families) for _ in range(40)]
    sets = [pi.sample_settings(f, r) for f in fams]
    w = rng.normal(size=40)
    grad = policy_gradient(pi, fams, sets, w, kl_beta=0.3)
    g = np.concatenate([grad[f][k] for f in pi.families for k in FACTORS])
    x0, eps, num = pi.flat(), 1e-6, []
    for i in range(len(x0)):
        e = np.zeros_like(x0)
        e[i] = eps
        pi.set_flat(x0 + e)
        up = policy_loss(pi, fams, sets, w, 0.3)
        pi.set_flat(x0 - e)
        num.append((up - policy_loss(pi, fams, sets, w, 0.3)) / (2 * eps))
    pi.set_flat(x0)
    assert np.allclose(g, num, atol=1e-7)


def test_group_advantages():
    r = np.array([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]])
    a = group_advantages(r, "grpo")
    assert np.allclose(a[0], [-1.2247, 0.0, 1.2247], atol=1e-4) and np.allclose(a[1], 0.0)
    assert np.allclose(group_advantages(r, "reinforce"), r - r.mean())


@pytest.mark.parametrize("method", ["grpo", "expert-iteration"])
def test_optimising_gold_raises_gold_steadily(tmp_path, method):
    res = run(OptimizeSpec(reward="gold", method=method, output=str(tmp_path), steps=40,
                           **{**SMALL, "plot": method == "grpo"}))
    gold = np.array([r["gold"] for r in res.records])
    blocks = gold.reshape(-1)[:40].reshape(4, 10).mean(axis=1)
    assert np.all(np.diff(blocks) > 0), blocks  # rises block after block: no proxy gap, no Goodhart
    assert gold[-1] > gold[0] + 0.6 and res.sweet_spot["step"] >= 35
    assert res.final["kl"] > 0.1 and res.records[0]["kl"] == pytest.approx(0.0, abs=1e-12)
    assert res.records[0]["proxy_gold_spearman"] == pytest.approx(1.0)
    lines = [json.loads(x) for x in (tmp_path / "steps.jsonl").read_text().splitlines()]
    assert _strip(lines) == _strip(res.records) and len(lines) == 41
    assert (tmp_path / "optimize.png").exists() == (method == "grpo")
    if method == "grpo":
        assert (tmp_path / "optimize.png").stat().st_size > 10_000


def test_length_biased_proxy_rises_while_gold_peaks_then_falls(tmp_path):
    res = run(OptimizeSpec(reward="annotator:length=5", output=str(tmp_path), steps=120, lr=1.0, **SMALL))
    gold = np.array([r["gold"] for r in res.records])
    proxy = np.array([r["proxy"] for r in res.records])
    peak = int(np.argmax(gold))
    assert 10 < peak < 100
    assert gold[peak] - gold[-1] > 0.15 and gold[peak] > gold[0] + 0.5
    assert proxy[-10:].mean() > proxy[max(0, peak - 5):peak + 5].mean() + 0.5  # the proxy keeps rising
    base, last = res.records[0], res.records[-1]
    assert last["rates"]["extra_sentences"] > base["rates"]["extra_sentences"] + 1.0
    assert np.mean([r["words"] for r in res.records[-10:]]) > base["words"] + 5


def test_text_scorer_with_cache(tmp_path):
    scorer = WordScorer()
    res = run(OptimizeSpec(reward="words", output=str(tmp_path), steps=30, **SMALL), scorer=scorer)
    c = res.cache
    assert c["hits"] + c["misses"] == 31 * 32 and c["misses"] == c["distinct"] and c["hits"] > 0
    assert res.final["words"] > res.records[0]["words"] + 5
    assert res.final["gold"] < res.records[0]["gold"]  # length alone is no quality: gold only falls


def test_resume_after_a_kill_equals_an_uninterrupted_run(tmp_path):
    spec = {"reward": "words", "steps": 12, "checkpoint_every": 4, **SMALL}
    full = run(OptimizeSpec(output=str(tmp_path / "full"), **spec), scorer=WordScorer())
    with pytest.raises(RewardlabError, match=r"^step 9: the reward model words failed: ConnectionError: reward "
                       r"server went away; the last checkpoint is .*checkpoint.json \(rerun with --resume"):
        run(OptimizeSpec(output=str(tmp_path / "killed"), **spec), scorer=WordScorer(fail_at_call=10))
    ckpt = json.loads((tmp_path / "killed" / "checkpoint.json").read_text())
    assert ckpt["step"] == 8 and SimPolicy.from_dict(ckpt["policy"]).kl() > 0
    assert len((tmp_path / "killed" / "steps.jsonl").read_text().splitlines()) == 9  # steps 0..8 were logged
    with pytest.raises(RewardlabError, match="holds an earlier run; pass --resume"):
        run(OptimizeSpec(output=str(tmp_path / "killed"), **spec), scorer=WordScorer())
    resumed_scorer = WordScorer()
    resumed = run(OptimizeSpec(output=str(tmp_path / "killed"), resume=True, **spec), scorer=resumed_scorer)
    assert resumed_scorer.calls == 5  # steps 8..12 only
    assert _strip(resumed.records) == _strip(full.records) and resumed.cache == full.cache
    # a resume that ignored the saved policy (base logits at step 8) gives another run
    (tmp_path / "killed" / "checkpoint.json").write_text(json.dumps(
        dict(ckpt, policy=SimPolicy.from_base("default").to_dict())))
    ignored = run(OptimizeSpec(output=str(tmp_path / "killed"), resume=True, **spec), scorer=WordScorer())
    assert _strip(ignored.records)[:8] == _strip(full.records)[:8]
    assert _strip(ignored.records)[8:] != _strip(full.records)[8:]


def test_nan_reward_stops_naming_the_step_and_the_checkpoint_stays_usable(tmp_path):
    spec = OptimizeSpec(reward="words", output=str(tmp_path), steps=6, checkpoint_every=2, **SMALL)
    with pytest.raises(RewardlabError, match=r"step 3: the reward model words returned a non-finite reward \(nan\) "
                       r"for 1 of \d+ responses; first: prompt"):
        run(spec, scorer=WordScorer(fail_at_call=4, nan=True))
    assert json.loads((tmp_path / "checkpoint.json").read_text())["step"] == 2
    res = run(OptimizeSpec(**{**spec.to_dict(), "resume": True}), scorer=WordScorer())
    assert [r["step"] for r in res.records] == list(range(7))


def test_settings_errors(tmp_path):
    with pytest.raises(ConfigError, match="group must be >= 2 for grpo"):
        OptimizeSpec(reward="gold", output="o", group=1)
    with pytest.raises(RewardlabError, match="--reward is required"):
        run(OptimizeSpec(output=str(tmp_path)))
    with pytest.raises(RewardlabError, match="expected a preset .* got 'lenght=2'"):
        run(OptimizeSpec(reward="annotator:lenght=2", output=str(tmp_path)))
    run(OptimizeSpec(reward="gold", output=str(tmp_path / "a"), steps=2, **SMALL))
    with pytest.raises(RewardlabError, match=r"cannot resume with different settings \(lr: 0.5 -> 0.1\)"):
        run(OptimizeSpec(reward="gold", output=str(tmp_path / "a"), steps=2, lr=0.1, resume=True, **SMALL))


def test_summary_shows_false_premise_agreement_when_the_run_watches_sycophancy(tmp_path):
    """The `agree` column (the policy's exact agreement rate on false-premise prompts, from the records) appears
    with --honesty-penalty or --sycophancy-audit, and only then: older summaries keep their columns."""
    plain = run(OptimizeSpec(reward="gold", output=str(tmp_path / "a"), steps=2, **SMALL))
    assert "agree" not in plain.lines()[1]
    watched = run(OptimizeSpec(reward="gold", output=str(tmp_path / "b"), steps=2, honesty_penalty=1.0, **SMALL))
    header, base, final = watched.lines()[1], watched.lines()[2], watched.lines()[4]
    assert header.split()[-1] == "agree"
    assert float(base.split()[-1]) == pytest.approx(watched.records[0]["agreement"], abs=5e-4)
    assert float(final.split()[-1]) == pytest.approx(watched.final["agreement"], abs=5e-4)
    assert watched.records[0]["agreement"] == pytest.approx(SimPolicy.from_base("default").agreement_rate())
