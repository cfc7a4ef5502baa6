"""Backward compatibility of the simulator: the old presets give byte-identical data forever.

The hashes below were computed on the code *before* the completeness attribute (`details`) was added (commit
200ac2e). Any change that makes the old presets consume random numbers differently, render other text, or add
keys to their records breaks them. Do not update a hash to make a test pass: find what changed the output.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable

import pytest

from rewardlab.policy.simpolicy import SimPolicy
from rewardlab.simulate import (
    SimConfig,
    false_premise_cases,
    human_like,
    neutral,
    simulate_battles,
    simulate_pairs,
    simulate_pools,
)
from rewardlab.simulate.families import FAMILY_IMPLS
from rewardlab.simulate.responses import gold_utility, render


def _h(x: object) -> str:
    return hashlib.sha256(json.dumps(x, sort_keys=True).encode()).hexdigest()


def _votes() -> SimConfig:
    return SimConfig(n_annotators=3, tie_margin=0.5, flip_prob=0.1, emit_margin=True, length_bias=0.5)


CONFIGS: dict[str, Callable[[], SimConfig]] = {"neutral": neutral, "human_like": human_like, "votes": _votes}

PINS = {
    ("neutral", "pairs"): "be48f96459b15eca51660cc9954c0bf1633068bb0dceb88126837bb6a9c75b33",
    ("neutral", "pools"): "45e392d423b9b8183ba57e3a08379a6a87c125f69ab912796f0901603a890002",
    ("neutral", "battles"): "09f4eb1d29d82cf9e6f62cc6cb0589ecf8edb5cb33ef8f8be3f236dd04bd2220",
    ("human_like", "pairs"): "33425527fcef270e708f9c2bc703d25336c552cddd83212ed877c8a96d977069",
    ("human_like", "pools"): "45e392d423b9b8183ba57e3a08379a6a87c125f69ab912796f0901603a890002",
    ("human_like", "battles"): "3a9a1de8d5225d01862f0f5a9601dc390a1420a130b4b2f81abf0ac9174ea463",
    ("votes", "pairs"): "25b8123fba9e609f7ac62755f38ddf979ed05cdbcea80df9ebe5929fe91a751a",
    ("votes", "pools"): "45e392d423b9b8183ba57e3a08379a6a87c125f69ab912796f0901603a890002",
    ("votes", "battles"): "c0ffb4fc8dc96c0773b1b5648cfc6cc023284ed1c8bc6353dbeb8bf586bc78f9",
}
FP_PIN = "5d6fac138aef828ffa9da3d93cce8dd7899d1191f66721bf82e8bc5376dab6c7"
#: (samples of a policy with shifted logits, its saved state) per base system
POLICY_PINS = {
    "default": (
        "d9bd6c01a6fd9dc04ea3391640109cd941d960c2c58cf27203a1ae871703e826",
        "23ac5e0fa360e70ab1f56eb868b322b299c267ac11f689d66d3db9abb9dbb28d",
    ),
    "sys-b": (
        "cf5ce8639b13d42ee6e10bd41e5dbd75dbcc98fc9a23df2d7c3999000dba710f",
        "b25f5bdeb7ea47f500467d6f8db0b4539906eb6be389ea2a406552ca6f165ee5",
    ),
}


@pytest.mark.parametrize("preset,kind", sorted(PINS))
def test_old_presets_byte_identical(preset: str, kind: str) -> None:
    cfg = CONFIGS[preset]()
    if kind == "pairs":
        out = simulate_pairs(300, seed=3, config=cfg)
    elif kind == "pools":
        out = simulate_pools(60, k=6, seed=3, config=cfg)
    else:
        out = simulate_battles(300, seed=3, config=cfg)
    assert _h(out) == PINS[(preset, kind)]


def test_false_premise_cases_byte_identical() -> None:
    assert _h(false_premise_cases(100, seed=3)) == FP_PIN


@pytest.mark.parametrize("base", sorted(POLICY_PINS))
def test_old_policy_sampling_identical(base: str) -> None:
    pi = SimPolicy.from_base(base)
    pi.logits["facts"]["extra_sentences"] += 0.3
    rng = random.Random(5)
    out = []
    for i in range(200):
        fam = pi.families[i % len(pi.families)]
        item = FAMILY_IMPLS[fam].sample(rng)
        s = pi.sample_settings(fam, rng)
        a = SimPolicy.attributes(fam, s)
        out.append([s, a, render(FAMILY_IMPLS[fam], item.spec, fam, a, rng), gold_utility(a), pi.log_prob(fam, s)])
    assert (_h(out), _h(pi.to_dict())) == POLICY_PINS[base]
