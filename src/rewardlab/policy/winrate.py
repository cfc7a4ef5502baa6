"""Exact gold win rate of one simulator policy against another (AlpacaFarm's metric, judged by gold).

win(pi, pi0) = sum_f w_f [P(gold(y) > gold(y0)) + 0.5 P(gold(y) = gold(y0))], y ~ pi(. | f), y0 ~ pi0(. | f)
independent, f over the prompt distribution (the family weights). Gold depends on the response's attributes only,
so each family's gold law is a finite distribution: the product of the factors' categorical laws over every
setting combination of the policy's factors (`details` included when it has them; enumerated once per family
and cached), summed by gold value. No sampling: the value is exact
(to float rounding); `gold_utility` rounds gold to 9 decimals, so equal utilities tie exactly.

Example:
    >>> from rewardlab.policy.simpolicy import SimPolicy
    >>> from rewardlab.policy.winrate import win_rate
    >>> pi0 = SimPolicy.from_base("default")
    >>> round(win_rate(pi0, pi0), 12)
    0.5
    >>> win_rate(SimPolicy.from_base("sys-a"), pi0) > 0.5
    True
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import astuple

import numpy as np

from rewardlab.errors import RewardlabError
from rewardlab.policy.simpolicy import SimPolicy, factor_settings
from rewardlab.simulate.config import UtilityWeights
from rewardlab.simulate.responses import gold_utility

__all__ = ["gold_law", "win_rate"]


@functools.lru_cache(maxsize=64)
def _gold_values(family: str, weights: tuple[float, ...],
                 factors: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, int]:
    """(inverse index of each setting combination into the sorted distinct gold values, the values, their count)
    for one family; combinations in C order over `factors` (a policy's own, details included when it has them)."""
    w = UtilityWeights(*weights)
    sizes = [len(factor_settings(family, k)) for k in factors]
    gold = np.array([gold_utility(SimPolicy.attributes(family, dict(zip(factors, combo, strict=True))), w)
                     for combo in itertools.product(*(range(n) for n in sizes))])
    values, inverse = np.unique(gold, return_inverse=True)
    return inverse, values, values.size


def gold_law(policy: SimPolicy, family: str, weights: UtilityWeights | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The exact law of gold utility of one response of `policy` to a prompt of `family`.

    Args:
        policy: a simulator policy.
        family: one of its families.
        weights: gold utility weights (default UtilityWeights()).

    Returns:
        (values, probabilities): the distinct gold values ascending and their probabilities (summing to 1).

    Raises:
        RewardlabError: the policy has no such family.
    """
    if family not in policy.family_weights:
        raise RewardlabError(f"family {family!r}: not a family of this policy ({', '.join(policy.families)})")
    inverse, values, n = _gold_values(family, astuple(weights or UtilityWeights()), tuple(policy.factors))
    p = np.ones(1)
    for k in policy.factors:
        p = np.multiply.outer(p, policy.probs(family, k)).reshape(-1)
    return values, np.bincount(inverse, weights=p, minlength=n)


def win_rate(policy: SimPolicy, reference: SimPolicy, weights: UtilityWeights | None = None) -> float:
    """Exact P(gold(y) > gold(y0)) + 0.5 P(tie), y ~ policy, y0 ~ reference, over the prompt distribution.

    Args:
        policy: the policy judged.
        reference: the policy it is compared with (usually the base policy).
        weights: gold utility weights (default UtilityWeights()).

    Returns:
        The win rate in [0, 1]; 0.5 when the two policies are equal.

    Raises:
        RewardlabError: the two policies have different prompt distributions (family weights) or factors.

    Example:
        >>> from rewardlab.policy.simpolicy import SimPolicy
        >>> round(win_rate(SimPolicy.from_base("sys-f"), SimPolicy.from_base("sys-a")), 4) < 0.2
        True
    """
    if policy.factors != reference.factors:
        raise RewardlabError(f"win rate: the two policies have different factors ({', '.join(policy.factors)} vs "
                             f"{', '.join(reference.factors)})")
    if policy.family_weights != reference.family_weights:
        raise RewardlabError("win rate: the two policies have different prompt distributions (family weights "
                             f"{policy.family_weights} vs {reference.family_weights})")
    total = 0.0
    for fam, w in policy.family_weights.items():
        _, p = gold_law(policy, fam, weights)
        _, q = gold_law(reference, fam, weights)
        below = np.concatenate([[0.0], np.cumsum(q)[:-1]])  # P(gold(y0) < value)
        total += w * float(p @ (below + 0.5 * q))
    return total
