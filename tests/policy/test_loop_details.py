"""The optional `details` factor flows through the loop's gradients, the reward-conditioning tilt and the exact win
rate (a base with completeness > 0 has it): finite differences, additivity and Monte Carlo."""

from __future__ import annotations

import random

import numpy as np
import pytest

from rewardlab.errors import RewardlabError
from rewardlab.policy.loop import (
    attribute_features,
    attribute_names,
    conditioning_gradient,
    conditioning_loss,
    policy_gradient,
    policy_loss,
)
from rewardlab.policy.simpolicy import SimPolicy
from rewardlab.policy.winrate import win_rate
from rewardlab.simulate.config import Propensities
from rewardlab.simulate.responses import gold_utility


def _details_policy(seed: int = 0, scale: float = 0.5) -> SimPolicy:
    pi = SimPolicy.from_base(Propensities(completeness=1.5))
    rng = np.random.default_rng(seed)
    pi.set_flat(pi.flat() + scale * rng.normal(size=pi.flat().shape))
    return pi


def _fd(fn, x0, set_x, eps=1e-6):
    num = []
    for i in range(len(x0)):
        e = np.zeros_like(x0)
        e[i] = eps
        set_x(x0 + e)
        up = fn()
        set_x(x0 - e)
        num.append((up - fn()) / (2 * eps))
    set_x(x0)
    return np.array(num)


def test_gradients_cover_the_details_factor():
    pi = _details_policy()
    assert "details" in pi.factors and attribute_names(pi)[-1] == "details"
    r = random.Random(0)
    fams = [r.choice(pi.families) for _ in range(30)]
    sets = [pi.sample_settings(f, r) for f in fams]
    w = np.random.default_rng(1).normal(size=30)
    g = policy_gradient(pi, fams, sets, w, 0.2)
    flat = np.concatenate([g[f][k] for f in pi.families for k in pi.factors])
    assert np.allclose(flat, _fd(lambda: policy_loss(pi, fams, sets, w, 0.2), pi.flat(), pi.set_flat), atol=1e-7)
    feats = attribute_features(pi)
    delta = np.random.default_rng(2).normal(size=len(attribute_names(pi)))
    good, bad = list(zip(fams[:15], sets[:15], strict=True)), list(zip(fams[15:], sets[15:], strict=True))
    g_th, g_d = conditioning_gradient(pi, feats, delta, good, bad, 0.1)
    flat = np.concatenate([g_th[f][k] for f in pi.families for k in pi.factors])
    loss = lambda: conditioning_loss(pi, feats, delta, good, bad, 0.1)  # noqa: E731
    assert np.allclose(flat, _fd(loss, pi.flat(), pi.set_flat), atol=1e-7)
    d0 = delta.copy()

    def set_delta(v):
        delta[:] = v
    assert np.allclose(g_d, _fd(loss, d0, set_delta), atol=1e-7)


def test_win_rate_with_details_against_monte_carlo():
    a, b = _details_policy(0, 0.7), SimPolicy.from_base(Propensities(completeness=1.5))
    exact = win_rate(a, b)
    r = random.Random(0)
    fams, weights = a.families, [a.family_weights[f] for f in a.families]
    n, score = 30_000, 0.0
    for _ in range(n):
        f = r.choices(fams, weights)[0]
        ga = gold_utility(SimPolicy.attributes(f, a.sample_settings(f, r)))
        gb = gold_utility(SimPolicy.attributes(f, b.sample_settings(f, r)))
        score += 1.0 if ga > gb else 0.5 if ga == gb else 0.0
    assert abs(score / n - exact) < 4 * 0.5 / np.sqrt(n)
    with pytest.raises(RewardlabError, match="different factors"):
        win_rate(a, SimPolicy.from_base("default"))
