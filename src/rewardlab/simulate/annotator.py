"""The simulated annotator: a Bradley-Terry (optionally Rao-Kupper) judge with human-like biases and noise.

See SimConfig for the model. Votes are drawn with one uniform number each, u < P(a) -> a, so runs with different
bias settings but the same seed see the same uniforms (coupled draws): raising a bias can only move votes toward
the side it favours.
"""

from __future__ import annotations

import math
import random

from rewardlab.simulate.config import SimConfig

#: Llama-2 style margin levels from the annotator's perceived preference strength (logit units):
#: 0 negligibly better, 1 slightly better, 2 better, 3 significantly better.
MARGIN_THRESHOLDS = (1.0, 2.5, 4.0)


def sigmoid(x: float) -> float:
    """Numerically stable logistic function."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def preference_logit(
    u_a: float,
    u_b: float,
    len_a: int,
    len_b: int,
    syc_a: bool,
    syc_b: bool,
    fmt_a: bool,
    fmt_b: bool,
    tau: float,
    config: SimConfig,
) -> float:
    """z = (u_a - u_b + biases) / tau: the annotator's log-odds of preferring a (before ties and flips)."""
    c = config
    d = u_a - u_b
    if c.length_bias:
        d += c.length_bias * (len_a - len_b) / c.length_norm
    if c.agreement_bias:
        d += c.agreement_bias * (int(syc_a) - int(syc_b))
    if c.format_bias:
        d += c.format_bias * (int(fmt_a) - int(fmt_b))
    return d / tau


def vote_probabilities(z: float, tie_margin: float = 0.0) -> tuple[float, float]:
    """(P(vote a), P(vote b)) of one annotator before flips; the rest is P(tie) (Rao-Kupper, 0 when margin 0)."""
    return sigmoid(z - tie_margin), sigmoid(-z - tie_margin)


def _margin_level(strength: float) -> int:
    return sum(strength >= t for t in MARGIN_THRESHOLDS)


def annotate(rng: random.Random, z: float, config: SimConfig,
             sides: list[int] | None = None) -> tuple[int, int, list[int], list[int]]:
    """Draw config.n_annotators votes on a pair with logit z, independently (each with its own uniform and flip).

    Returns (votes for a, votes for b, margin levels of the a-votes, margin levels of the b-votes); the number of
    tie votes is n_annotators minus the two counts. Margin levels are only filled when config.emit_margin.
    With `sides`, each annotator's vote is appended to it in order: +1 for a, -1 for b, 0 for a tie (the draws
    are the same with or without it).
    """
    tm = config.tie_margin
    pa, pb = vote_probabilities(z, tm)
    hi = 1.0 - pb
    flip = config.flip_prob
    emit = config.emit_margin
    na = nb = 0
    lev_a: list[int] = []
    lev_b: list[int] = []
    for _ in range(config.n_annotators):
        u = rng.random()
        if u < pa:
            side = 1
        elif tm == 0.0 or u >= hi:
            side = -1
        else:
            if sides is not None:
                sides.append(0)
            continue  # tie vote
        if flip and rng.random() < flip:
            side = -side
        if sides is not None:
            sides.append(side)
        if side == 1:
            na += 1
        else:
            nb += 1
        if emit:
            uu = min(max(u, 1e-12), 1.0 - 1e-12)
            level = _margin_level(abs(z - math.log(uu / (1.0 - uu))))
            (lev_a if side == 1 else lev_b).append(level)
    return na, nb, lev_a, lev_b
