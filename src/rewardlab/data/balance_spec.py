"""BalanceSpec: the length-balancing settings (`--balance length`), in a module that imports no numpy, so the
specs that nest it (TrainConfig, `data stats`) load fast; the balancing itself is `rewardlab.data.balance`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rewardlab.config import ConfigError, Spec, option

METHODS = ("resample", "weights")
DEFAULT_BINS = 5
MIN_PER_BIN = 20  # quantile bins: at most one per this many pairs with a direction (small data, fewer bins)
DEFAULT_TOLERANCE = 0.01


@dataclass
class BalanceSpec(Spec):
    """Length balancing of the training pairs (`rewardlab train --balance length`, `rewardlab data stats
    --balance length`).

    Example:
        >>> BalanceSpec(by="length", method="weights").bins
        5
        >>> BalanceSpec(method="weights")
        Traceback (most recent call last):
        rewardlab.config.ConfigError: method applies when by is 'length'; by is 'none'
    """

    section_title = "data"

    by: Literal["none", "length"] = option("none", flag="--balance", help=(
        "none, or length: make 'the longer response wins' 50% within each length-difference bin (characters) of "
        "the training pairs; held-out pairs are never balanced."))
    method: Literal["resample", "weights"] = option("resample", flag="--balance-method", help=(
        "resample: drop pairs of the majority direction per bin (seeded); weights: keep every pair, weight each "
        "direction to half of its bin."))
    bins: int = option(DEFAULT_BINS, min=1, flag="--balance-bins", help=(
        "Length-difference bins (quantiles of |len(chosen) - len(rejected)|) balanced separately."))

    def check(self) -> None:
        if self.by == "none":
            for name, default in (("method", "resample"), ("bins", DEFAULT_BINS)):
                if getattr(self, name) != default:
                    raise ConfigError(f"{{0}} applies when {{1}} is 'length'; {{1}} is {self.by!r}", name, "by")

    @property
    def enabled(self) -> bool:
        """Whether the pairs are balanced at all."""
        return self.by != "none"
