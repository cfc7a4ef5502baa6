"""rewardlab.simulate: the built-in, deterministic preference simulator (embedded default data, test ground truth).

Prompts come from five task families (arithmetic, facts, units, advice, false_premise); responses carry visible
attributes (correct, relevant, extra_sentences, hedges, formatting, repetition, filler, sycophantic) whose weighted
sum is the gold utility; simulated annotators judge pairs with P(a > b) = sigmoid((u_a - u_b + biases) / tau_family).
Quick start::

    from rewardlab.simulate import simulate_pairs, human_like
    pairs = simulate_pairs(10_000, seed=0, config=human_like())
"""

from rewardlab.simulate.annotator import MARGIN_THRESHOLDS, preference_logit, sigmoid, vote_probabilities
from rewardlab.simulate.config import (
    ATTRIBUTES,
    DEFAULT_TAUS,
    FAMILIES,
    Propensities,
    SimConfig,
    UtilityWeights,
    human_like,
    neutral,
)
from rewardlab.simulate.facts import FACTS, Fact
from rewardlab.simulate.generate import (
    false_premise_cases,
    make_rng,
    simulate_battles,
    simulate_pairs,
    simulate_pools,
)
from rewardlab.simulate.responses import AttributeSampler, gold_utility, word_count
from rewardlab.simulate.systems import (
    System,
    default_systems,
    expected_attributes,
    expected_utility,
    system_expected_utility,
)

__all__ = [
    "ATTRIBUTES",
    "DEFAULT_TAUS",
    "FACTS",
    "FAMILIES",
    "MARGIN_THRESHOLDS",
    "AttributeSampler",
    "Fact",
    "Propensities",
    "SimConfig",
    "System",
    "UtilityWeights",
    "default_systems",
    "expected_attributes",
    "expected_utility",
    "false_premise_cases",
    "gold_utility",
    "human_like",
    "make_rng",
    "neutral",
    "preference_logit",
    "sigmoid",
    "simulate_battles",
    "simulate_pairs",
    "simulate_pools",
    "system_expected_utility",
    "vote_probabilities",
    "word_count",
]
