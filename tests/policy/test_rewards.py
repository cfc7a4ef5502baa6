"""The loop's rewards: ensembles combined by a selection rule (against the formulas computed here), the Gaussian
quantile of a heteroscedastic scorer, ensemble rules that reduce to a single known reward inside the loop, the
bag-of-words reward model, iterative reward-model updates (logged, resumed exactly) and the exact win rate."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from scipy.stats import norm

from rewardlab.errors import RewardlabError
from rewardlab.policy.bow_rm import BowRewardModel, parse_bow_spec
from rewardlab.policy.loop import OptimizeSpec, run
from rewardlab.policy.rewards import Rewarder, annotator_config, label_pairs
from rewardlab.policy.simpolicy import SimPolicy
from rewardlab.policy.winrate import win_rate
from rewardlab.scoring.output import RewardOutput
from rewardlab.simulate.config import SimConfig
from rewardlab.simulate.families import FAMILY_IMPLS
from rewardlab.simulate.generate import simulate_pairs
from rewardlab.simulate.responses import gold_utility, render

SMALL = {"batch_prompts": 8, "group": 4, "n_prompts": 64, "plot": False}


def _samples(n=40, seed=0, policy="sys-d"):
    pi = SimPolicy.from_base(policy)
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        fam = rng.choice(pi.families)
        item = FAMILY_IMPLS[fam].sample(rng)
        a = SimPolicy.attributes(fam, pi.sample_settings(fam, rng))
        out.append((item, a, render(FAMILY_IMPLS[fam], item.spec, fam, a, rng)))
    return out


class Gaussian:
    """A heteroscedastic scorer: mean = words / 10, std = 0.1 + hedging words / 5; members optional."""

    name = "gauss"

    def __init__(self, members: bool = False):
        self.members = members

    def score(self, prompts, responses, progress=True):
        mean = np.array([len(r.split()) / 10 for r in responses])
        std = np.array([0.1 + r.lower().count("think") / 5 for r in responses])
        mem = np.stack([mean - std, mean + 0.5 * std, mean + 0.5 * std], axis=1) if self.members else None
        return RewardOutput(mean, std=std, members=mem)


def test_ensemble_rules_equal_their_formulas():
    rows = _samples()
    prompts, texts, attrs = [r[0].prompt for r in rows], [r[2] for r in rows], [r[1] for r in rows]
    gold = np.array([gold_utility(a) for a in attrs])
    words = np.array([len(t.split()) for t in texts])
    m = np.stack([gold, gold + words / 50, gold + 3 * words / 50 + 0.5 * np.array([a["sycophantic"] for a in attrs])],
                 axis=1)
    spec = "gold;annotator:length=1;annotator:length=3,agreement=0.5"
    for rule, want in [("mean", m.mean(1)), ("min", m.min(1)), ("uwo:0.7", m.mean(1) - 0.7 * m.var(1)),
                       ("lcb:2", m.mean(1) - 2 * m.std(1)),
                       ("quantile:0.1", m.mean(1) + norm.ppf(0.1) * m.std(1))]:
        got = Rewarder(spec, select=rule)(0, prompts, texts, attrs)
        assert np.allclose(got, want, atol=1e-12), rule


def test_one_scorers_std_and_members_feed_the_rules():
    rows = _samples()
    prompts, texts, attrs = [r[0].prompt for r in rows], [r[2] for r in rows], [r[1] for r in rows]
    mean = np.array([len(t.split()) / 10 for t in texts])
    std = np.array([0.1 + t.lower().count("think") / 5 for t in texts])
    q = Rewarder("gauss", scorer=Gaussian(), select="quantile:0.2")(0, prompts, texts, attrs)
    assert np.allclose(q, mean + norm.ppf(0.2) * std)
    assert np.allclose(Rewarder("g", scorer=Gaussian(members=True), select="min")(0, prompts, texts, attrs),
                       mean - std)
    with pytest.raises(RewardlabError, match="step 0: --select min .* needs members"):
        Rewarder("gauss", scorer=Gaussian(), select="min")(0, prompts, texts, attrs)
    with pytest.raises(RewardlabError, match="--select min: the reward gold has no std or members"):
        Rewarder("gold", select="min")
    with pytest.raises(RewardlabError, match="allowed forms"):
        Rewarder("gold", select="median")


def test_ensemble_rules_inside_the_loop(tmp_path):
    """mean of (length 0, length 10) is the length-5 annotator and min is gold (length only adds): the loop runs
    exactly those rewards; uwo penalises the members' disagreement (length) and keeps more gold at the end."""
    spec = {"steps": 60, "lr": 1.0, **SMALL}
    pair = "annotator:length=0;annotator:length=10"
    one = run(OptimizeSpec(reward="annotator:length=5", output=str(tmp_path / "one"), **spec))
    mean = run(OptimizeSpec(reward=pair, output=str(tmp_path / "mean"), **spec))
    gold = run(OptimizeSpec(reward="gold", output=str(tmp_path / "gold"), **spec))
    worst = run(OptimizeSpec(reward=pair, select="min", output=str(tmp_path / "min"), **spec))
    uwo = run(OptimizeSpec(reward=pair, select="uwo:1", output=str(tmp_path / "uwo"), **spec))
    assert [r["gold"] for r in mean.records] == pytest.approx([r["gold"] for r in one.records], abs=1e-9)
    assert [r["gold"] for r in worst.records] == [r["gold"] for r in gold.records]
    assert uwo.final["gold"] > mean.final["gold"] + 0.1 and uwo.final["words"] < mean.final["words"] - 5
    assert worst.reward == "annotator:length=0;annotator:length=10 (min)"


def test_an_ensemble_of_scorers_is_cached_per_member(tmp_path):
    res = run(OptimizeSpec(reward="pair", select="lcb:1", output=str(tmp_path), steps=5, **SMALL),
              scorer=[Gaussian(), Gaussian(members=True)])
    c = res.cache
    assert c["hits"] + c["misses"] == 2 * 6 * 32 and c["distinct"] == c["misses"]


def test_bow_reward_model_learns_its_labels_and_round_trips():
    pairs = [{"prompt": "q", "chosen": "long " * (5 + i % 5) + "answer", "rejected": "short answer", "label": 1.0}
             for i in range(20)]
    rm = BowRewardModel(dim=256)
    info = rm.fit(pairs)
    assert info["train_accuracy"] == 1.0 and rm.n_pairs == 20
    r = rm.score(["q", "q"], ["long long long answer", "short answer"]).mean
    assert r[0] > r[1]
    back = BowRewardModel.from_dict(json.loads(json.dumps(rm.to_dict())))
    assert np.array_equal(back.w, rm.w) and back.pairs == rm.pairs
    rm.update([{"prompt": "q", "chosen": "short answer", "rejected": "long answer", "label": 1.0}] * 30)
    assert rm.n_pairs == 50 and rm.updates == 1
    assert parse_bow_spec("bow:human_like") == ("human_like", 4000, 0)
    assert parse_bow_spec("bow:length=2,agreement=0:300:7") == ("length=2,agreement=0", 300, 7)
    for bad in ("bow:", "bow:human_like:x", "bow:human_like:1"):
        with pytest.raises(RewardlabError, match="bow"):
            parse_bow_spec(bad)


def test_label_pairs_follow_the_simulated_annotator():
    """With no noise to speak of (tau tiny) and a strong length bias, the longer response wins unless gold
    differs by more than the bias; labels are the annotator's, gold travels along."""
    cfg = SimConfig(length_bias=100.0, taus={f: 1e-3 for f in SimConfig().taus})
    rows_a, rows_b = _samples(60, seed=1), _samples(60, seed=2)
    items = [r[0] for r in rows_a]
    first = [(None, r[1], r[2]) for r in rows_a]
    second = [(None, r[1], r[2]) for r in rows_b]
    pairs = label_pairs(items, first, second, cfg, random.Random(0))
    assert len(pairs) > 50
    for p in pairs:
        lc, lr = len(p["chosen"].split()), len(p["rejected"].split())
        assert lc >= lr and p["gold_chosen"] == gold_utility(p["attrs_chosen"])
    assert annotator_config("human_like").length_bias == 1.0


def test_iterative_rm_updates_are_logged_and_resume_exactly(tmp_path):
    spec = {"reward": "bow:human_like:300", "steps": 12, "rm_update_every": 4, "rm_update_pairs": 16,
            "checkpoint_every": 3, **SMALL}
    full = run(OptimizeSpec(output=str(tmp_path / "full"), **spec))
    assert [u["step"] for u in full.rm_updates] == [4, 8, 12]
    for u in full.rm_updates:
        assert 0 < u["pairs"] <= 16 and 0.0 <= u["gold_agreement_before"] <= 1.0
        assert u["members"][0]["pairs"] == 300 + sum(v["pairs"] for v in full.rm_updates if v["step"] <= u["step"])
    assert [r["step"] for r in full.records if "rm_update" in r] == [4, 8, 12]
    # scores after an update come from the updated model, not the cache
    assert any(u["gold_agreement_after"] != u["gold_agreement_before"] for u in full.rm_updates)
    # stop after 6 steps, then resume to 12: the reward model's updated state comes back from the checkpoint
    short = {**spec, "steps": 6}
    run(OptimizeSpec(output=str(tmp_path / "cut"), **short))
    resumed = run(OptimizeSpec(output=str(tmp_path / "cut"), resume=True, **spec))
    strip = lambda recs: [{k: v for k, v in r.items() if k != "elapsed_s"} for r in recs]  # noqa: E731
    assert strip(resumed.records) == strip(full.records) and resumed.rm_updates == full.rm_updates
    with pytest.raises(RewardlabError, match="--rm-update-every 4: the reward annotator:human_like cannot be updated"):
        run(OptimizeSpec(**{**spec, "reward": "annotator:human_like"}, output=str(tmp_path / "x")))


def test_gold_agreement_counts_orderings_like_gold():
    pairs = [p for p in simulate_pairs(200, seed=3) if p["gold_chosen"] != p["gold_rejected"]]
    r = Rewarder("annotator:length=2")
    got = r.gold_agreement(0, pairs)
    ra = r(0, [p["prompt"] for p in pairs], [p["chosen"] for p in pairs], [p["attrs_chosen"] for p in pairs])
    rb = r(0, [p["prompt"] for p in pairs], [p["rejected"] for p in pairs], [p["attrs_rejected"] for p in pairs])
    d = (ra - rb) * np.sign([p["gold_chosen"] - p["gold_rejected"] for p in pairs])
    assert got == pytest.approx(np.mean(d > 0) + 0.5 * np.mean(d == 0))
    assert Rewarder("gold").gold_agreement(0, pairs) == 1.0


def test_win_rate_is_exact():
    """Against a large Monte Carlo estimate, and win(a, b) + win(b, a) = 1 exactly (ties split)."""
    a, b = SimPolicy.from_base("sys-c"), SimPolicy.from_base("default")
    rng = np.random.default_rng(0)
    a.set_flat(a.flat() + 0.7 * rng.normal(size=a.flat().shape))
    exact = win_rate(a, b)
    assert exact + win_rate(b, a) == pytest.approx(1.0, abs=1e-12)
    r = random.Random(0)
    fams, weights = a.families, [a.family_weights[f] for f in a.families]
    ca, cb = {f: a.cdfs(f) for f in fams}, {f: b.cdfs(f) for f in fams}
    n, score = 60_000, 0.0
    for _ in range(n):
        f = r.choices(fams, weights)[0]
        ga = gold_utility(SimPolicy.attributes(f, a.sample_settings(f, r, ca[f])))
        gb = gold_utility(SimPolicy.attributes(f, b.sample_settings(f, r, cb[f])))
        score += 1.0 if ga > gb else 0.5 if ga == gb else 0.0
    assert abs(score / n - exact) < 4 * 0.5 / np.sqrt(n)
    with pytest.raises(RewardlabError, match="different prompt distributions"):
        win_rate(a, SimPolicy.from_base("default", SimConfig(family_weights={"facts": 1.0})))
