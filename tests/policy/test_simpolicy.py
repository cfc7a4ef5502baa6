"""The simulator policy: exact probabilities, KL and expected gold against enumeration, Monte Carlo and the
simulator's own closed forms; state round trips."""

from __future__ import annotations

import itertools
import json
import math
import random

import numpy as np
import pytest

from rewardlab.errors import RewardlabError
from rewardlab.policy.simpolicy import FACTORS, SimPolicy, factor_settings
from rewardlab.simulate.config import ATTRIBUTES, UtilityWeights
from rewardlab.simulate.responses import AttributeSampler, gold_utility
from rewardlab.simulate.systems import default_systems, expected_attributes, expected_utility


def _perturbed(base: str = "sys-c", seed: int = 0, scale: float = 1.0) -> SimPolicy:
    pi = SimPolicy.from_base(base)
    rng = np.random.default_rng(seed)
    pi.set_flat(pi.flat() + scale * rng.normal(size=pi.flat().shape))
    return pi


def _all_settings(family: str):
    ranges = [range(len(factor_settings(family, k))) for k in FACTORS]
    for combo in itertools.product(*ranges):
        yield dict(zip(FACTORS, combo, strict=True))


def test_base_policy_matches_the_simulators_closed_forms():
    for s in default_systems():
        pi = SimPolicy.from_base(s.name)
        assert abs(pi.kl()) < 1e-12
        assert pi.expected_gold() == pytest.approx(expected_utility(s.propensities), abs=1e-12)
        ea = expected_attributes(s.propensities)
        got = pi.expected_attributes()
        for k in ATTRIBUTES:
            assert got[k] == pytest.approx(ea[k], abs=1e-12), (s.name, k)


def test_base_policy_samples_like_the_simulators_attribute_sampler():
    # the same system drawn by the simulator's AttributeSampler and by the policy: equal attribute frequencies
    prop = default_systems()[3].propensities  # sys-d: sycophantic, so every answer setting is visited
    pi = SimPolicy.from_base("sys-d")
    rng_a, rng_b, n = random.Random(1), random.Random(2), 3000
    for fam in ("arithmetic", "false_premise"):
        a = [AttributeSampler(prop).sample(rng_a, fam) for _ in range(n)]
        b = [pi.attributes(fam, pi.sample_settings(fam, rng_b)) for _ in range(n)]
        for k in ATTRIBUTES:
            xa, xb = np.array([float(r[k]) for r in a]), np.array([float(r[k]) for r in b])
            se = math.sqrt(xa.var() / n + xb.var() / n) + 1e-9
            assert abs(xa.mean() - xb.mean()) < 4.5 * se, (fam, k, xa.mean(), xb.mean())


def test_log_probabilities_and_kl_by_enumeration():
    pi = _perturbed(seed=1)
    for fam in pi.families:
        total, kl, gold = 0.0, 0.0, 0.0
        for s in _all_settings(fam):
            lp, lq = pi.log_prob(fam, s), pi.base_log_prob(fam, s)
            total += math.exp(lp)
            kl += math.exp(lp) * (lp - lq)
            gold += math.exp(lp) * gold_utility(pi.attributes(fam, s))
        assert total == pytest.approx(1.0, abs=1e-12)
        assert kl == pytest.approx(pi.kl_family(fam), rel=1e-10)
        w = UtilityWeights()
        ea = pi.expected_attributes(fam)
        assert gold == pytest.approx(sum(getattr(w, k) * ea[k] for k in ATTRIBUTES), abs=1e-6)


def test_exact_kl_equals_its_monte_carlo_estimate():
    pi = _perturbed(seed=2, scale=0.8)
    rng = random.Random(3)
    fams, weights = pi.families, [pi.family_weights[f] for f in pi.families]
    cdfs = {f: pi.cdfs(f) for f in fams}
    vals = []
    for _ in range(8000):
        f = rng.choices(fams, weights)[0]
        s = pi.sample_settings(f, rng, cdfs[f])
        vals.append(pi.log_prob(f, s) - pi.base_log_prob(f, s))
    v = np.array(vals)
    se = v.std() / math.sqrt(len(v))
    assert pi.kl() > 0.5
    assert abs(v.mean() - pi.kl()) < 4 * se, (v.mean(), pi.kl(), se)


def test_state_round_trip_is_exact(tmp_path):
    pi = _perturbed(seed=4)
    path = pi.save(tmp_path / "policy.json")
    back = SimPolicy.load(path)
    assert back == pi and back.kl() == pi.kl()
    assert np.array_equal(back.flat(), pi.flat())
    rng1, rng2 = random.Random(5), random.Random(5)
    assert [pi.sample_settings("units", rng1) for _ in range(50)] == [
        back.sample_settings("units", rng2) for _ in range(50)]


def test_bad_state_and_base_are_clear_errors(tmp_path):
    d = _perturbed().to_dict()
    d["logits"]["facts"]["hedges"] = [0.0, 1.0]
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(d))
    with pytest.raises(RewardlabError, match=r"bad.json: facts.hedges must be 4 finite numbers"):
        SimPolicy.load(p)
    (tmp_path / "junk.json").write_text("{")
    with pytest.raises(RewardlabError, match="cannot read the policy state"):
        SimPolicy.load(tmp_path / "junk.json")
    with pytest.raises(RewardlabError, match="unknown; use 'default' or one of sys-a"):
        SimPolicy.from_base("sys-z")
