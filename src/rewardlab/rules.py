"""Pessimistic selection rules: the one place a rule name becomes a score (ALGORITHMS.md section 2).

A rule turns a reward with uncertainty (mean, std, ensemble members) into the number a consumer ranks by:

| rule          | score                                   | needs              |
|---------------|-----------------------------------------|--------------------|
| ``mean``      | mu                                      | mean               |
| ``lcb:k``     | mu - k s                                | std (or members)   |
| ``quantile:q``| mu + Phi^-1(q) s, 0 < q < 1             | std (or members)   |
| ``min``       | min over ensemble members (worst case)  | members            |
| ``uwo:lam``   | mu - lam Var_pop(members)               | members            |

``s`` is the ``std`` given (the ``RewardOutput.std`` a scorer returns: for a plain ensemble the population standard
deviation of the member means, for Gaussian members that spread plus the members' mean variance). When only
``members`` are given, ``s`` is their population standard deviation (``ddof=0``), the one
``RewardModel.split`` computes for a plain ensemble. ``Var_pop`` in ``uwo`` is always the population variance of
the members (``ddof=0``), never the ``std`` argument.

The compact names of :meth:`rewardlab.scoring.output.RewardOutput.pessimistic` (``lcb1``, ``lcb``, ``q0.1``,
``uwo0.5``, ``uwo``) are accepted as aliases, so either spelling reaches the same function. Unlike
``RewardOutput.pessimistic``, a rule whose input is missing is an error here, never a silent fall-back to the mean.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from rewardlab.errors import RewardlabError

__all__ = ["RULE_FORMS", "Rule", "parse_rule", "pessimistic_scores", "select_best"]

RULE_FORMS = "mean, lcb:k (k >= 0), quantile:q (0 < q < 1), min, uwo:lam (lam >= 0)"
_NUM = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_PATTERNS = (
    (re.compile(r"^mean$"), "mean", None),
    (re.compile(r"^min$"), "min", None),
    (re.compile(rf"^lcb:{_NUM}$"), "lcb", None),
    (re.compile(rf"^quantile:{_NUM}$"), "quantile", None),
    (re.compile(rf"^uwo:{_NUM}$"), "uwo", None),
    # RewardOutput.pessimistic spellings
    (re.compile(rf"^lcb{_NUM}$"), "lcb", None),
    (re.compile(r"^lcb$"), "lcb", 1.0),
    (re.compile(rf"^q{_NUM}$"), "quantile", None),
    (re.compile(rf"^uwo{_NUM}$"), "uwo", None),
    (re.compile(r"^uwo$"), "uwo", 1.0),
)


@dataclass(frozen=True)
class Rule:
    """A parsed selection rule: ``kind`` in {mean, lcb, quantile, min, uwo} and its parameter (None for mean/min).

    Build it with :func:`parse_rule`; ``str(rule)`` (also ``rule.name``) is the canonical text, e.g. ``lcb:1``.

    Example:
        >>> rule = parse_rule("lcb:2")
        >>> rule.kind, rule.param, str(rule), rule.needs
        ('lcb', 2.0, 'lcb:2', 'std or members')
    """

    kind: str
    param: float | None = None

    @property
    def name(self) -> str:
        """Canonical text of the rule (``parse_rule(rule.name) == rule``)."""
        if self.param is None:
            return self.kind
        text = repr(float(self.param))  # shortest text that round-trips
        return f"{self.kind}:{text[:-2] if text.endswith('.0') else text}"

    @property
    def needs(self) -> str:
        """The input the rule needs beyond the mean: 'nothing', 'std or members' or 'members'."""
        return {"mean": "nothing", "lcb": "std or members", "quantile": "std or members"}.get(self.kind, "members")

    def __str__(self) -> str:
        return self.name


def parse_rule(text: str | Rule) -> Rule:
    """Parse a selection rule: ``mean``, ``lcb:k``, ``quantile:q``, ``min`` or ``uwo:lam``.

    Case and surrounding spaces are ignored. The ``RewardOutput.pessimistic`` spellings ``lcb<k>``, ``lcb`` (k = 1),
    ``q<level>``, ``uwo<lam>`` and ``uwo`` (lam = 1) are accepted as aliases. A Rule is returned unchanged.

    Args:
        text: the rule text (or an already parsed Rule).

    Returns:
        Rule: the parsed rule.

    Raises:
        RewardlabError: unknown text, a parameter that does not parse, is not finite, k or lam < 0, or q outside (0, 1);
            the message names the rule and the allowed forms.

    Example:
        >>> parse_rule("quantile:0.1")
        Rule(kind='quantile', param=0.1)
        >>> parse_rule(" UWO:0.5 ").name, parse_rule("q0.1").name, parse_rule("lcb").name
        ('uwo:0.5', 'quantile:0.1', 'lcb:1')
        >>> parse_rule("quantile:1.5")
        Traceback (most recent call last):
        rewardlab.errors.RewardlabError: rule 'quantile:1.5': q must be in (0, 1); allowed forms: mean, lcb:k (k >= 0), quantile:q (0 < q < 1), min, uwo:lam (lam >= 0)
    """
    if isinstance(text, Rule):
        return text
    if not isinstance(text, str):
        raise RewardlabError(f"rule {text!r}: expected a string; allowed forms: {RULE_FORMS}")
    t = text.strip().lower()
    for pattern, kind, default in _PATTERNS:
        m = pattern.match(t)
        if m is None:
            continue
        if kind in ("mean", "min"):
            return Rule(kind)
        value = default if default is not None else float(m.group(1))
        if not math.isfinite(value):
            raise RewardlabError(f"rule {text!r}: the parameter must be finite; allowed forms: {RULE_FORMS}")
        if kind == "quantile" and not 0.0 < value < 1.0:
            raise RewardlabError(f"rule {text!r}: q must be in (0, 1); allowed forms: {RULE_FORMS}")
        if kind in ("lcb", "uwo") and value < 0:
            what = "k" if kind == "lcb" else "lam"
            raise RewardlabError(f"rule {text!r}: {what} must be >= 0 (a negative value is optimism, not pessimism); "
                             f"allowed forms: {RULE_FORMS}")
        return Rule(kind, float(value))
    raise RewardlabError(f"unknown rule {text!r}; allowed forms: {RULE_FORMS}")


def _as_float(x: Any, name: str) -> np.ndarray:
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise RewardlabError(f"{name} must be numeric: {e}") from None


def pessimistic_scores(
    rule: str | Rule,
    mean: Any,
    std: Any = None,
    members: Any = None,
) -> np.ndarray:
    """The rule's score for every item, vectorised over any shape (e.g. [prompts, candidates]).

    Args:
        rule: rule text (see :func:`parse_rule`) or a Rule.
        mean: mean rewards, any shape S.
        std: standard deviations, shape S, or None. Used by ``lcb``/``quantile``; when None those rules use the
            population standard deviation of ``members`` (ddof=0, as a plain ensemble head reports it).
        members: ensemble member rewards, shape S + (K,) (members on the last axis), or None. Needed by ``min``
            and ``uwo`` (population variance, ddof=0).

    Returns:
        np.ndarray: float64 scores of shape S (a new array, never a view of ``mean``).

    Raises:
        RewardlabError: a bad rule; the input the rule needs is missing; shapes do not match; a negative std.

    Example:
        >>> import numpy as np
        >>> members = np.array([[0.5, 1.5], [2.0, 2.0]])
        >>> mean = members.mean(axis=-1)
        >>> pessimistic_scores("lcb:1", mean, members=members)
        array([0.5, 2. ])
        >>> pessimistic_scores("uwo:2", mean, members=members)
        array([0.5, 2. ])
        >>> pessimistic_scores("quantile:0.1", [1.0], std=[0.5]).round(4)
        array([0.3592])
        >>> pessimistic_scores("min", mean)
        Traceback (most recent call last):
        rewardlab.errors.RewardlabError: rule 'min' needs members (ensemble member rewards, members on the last axis); got none
    """
    r = parse_rule(rule)
    mu = _as_float(mean, "mean")
    s = None if std is None else _as_float(std, "std")
    mem = None if members is None else _as_float(members, "members")
    if s is not None:
        if s.shape != mu.shape:
            raise RewardlabError(f"std has shape {s.shape}, mean has shape {mu.shape}: they must match")
        if np.any(s < 0):
            raise RewardlabError("std must be >= 0")
    if mem is not None and (mem.ndim != mu.ndim + 1 or mem.shape[:-1] != mu.shape or mem.shape[-1] < 1):
        raise RewardlabError(f"members must have shape mean.shape + (K,) = {mu.shape} + (K,), got {mem.shape}")
    if r.kind == "mean":
        return mu.copy()
    if r.kind in ("min", "uwo") and mem is None:
        raise RewardlabError(f"rule '{r}' needs members (ensemble member rewards, members on the last axis); got none")
    if r.kind == "min":
        return mem.min(axis=-1)
    if r.kind == "uwo":
        return mu - r.param * mem.var(axis=-1)
    if s is None:
        if mem is None:
            raise RewardlabError(f"rule '{r}' needs std or members (to compute the population std); got neither")
        s = mem.std(axis=-1)
    if r.kind == "lcb":
        return mu - r.param * s
    from scipy.special import ndtri  # here: importing the rules (the command line does) loads no scipy

    return mu + ndtri(r.param) * s  # quantile


def select_best(scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """Best candidate per row: argmax over the last axis, ties broken to the lowest index, and the tie count.

    Args:
        scores: [P, N] scores (any leading shape; candidates on the last axis, N >= 1). NaN is not allowed.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``index`` [P] (int64) of the first maximum and ``n_ties`` [P] (int64), the
        number of candidates equal to the maximum (1 when the maximum is unique).

    Raises:
        RewardlabError: no candidates, or NaN scores.

    Example:
        >>> select_best([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]])
        (array([1, 0]), array([2, 1]))
    """
    s = _as_float(scores, "scores")
    if s.ndim == 0 or s.shape[-1] == 0:
        raise RewardlabError(f"scores must have at least one candidate on the last axis, got shape {s.shape}")
    if np.isnan(s).any():
        raise RewardlabError("scores contain NaN")
    index = np.argmax(s, axis=-1)  # first occurrence of the maximum
    best = np.take_along_axis(s, index[..., None], axis=-1)
    n_ties = np.count_nonzero(s == best, axis=-1)
    return index.astype(np.int64), n_ties.astype(np.int64)
