"""QualitySpec: the options of `rewardlab data stats`' agreement and cycle statistics, in a module that imports
no numpy; the statistics are `rewardlab.data.quality`."""

from __future__ import annotations

from dataclasses import dataclass

from rewardlab.config import Spec, option


@dataclass
class QualitySpec(Spec):
    """Options of the data-quality statistics of `rewardlab data stats` (agreement and preference cycles).

    Example:
        >>> QualitySpec().max_cycle_length
        5
        >>> QualitySpec(max_cycle_length=2)
        Traceback (most recent call last):
        rewardlab.config.ConfigError: max_cycle_length must be >= 3, got 2
    """

    section_title = "data quality"

    max_cycle_length: int = option(5, min=3, help="Longest preference cycle searched for in a prompt's comparison "
                                   "graph (A > B > C > A has length 3).")
    list_cycles: int = option(20, min=0, help="How many cycles to list (all are counted).")
    n_resamples: int = option(1000, min=0, flag="--agreement-resamples", help=(
        "Bootstrap resamples for the agreement statistics' 95% CIs (0: no CIs)."))
    seed: int = option(0, min=0, flag="--agreement-seed", help="Seed of the agreement bootstrap.")
