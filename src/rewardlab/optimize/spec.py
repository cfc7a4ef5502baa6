"""The specs of the best-of-N and overoptimisation commands (`rewardlab bon`, `rewardlab goodhart`): where the pools
are and how to read them (`DataSpec`), what scores them, and the run section every scoring stage shares. No numpy,
torch or scipy here: the command line imports this module to build its options.

Example:
    >>> spec = GoodhartSpec.from_options(data="pools.jsonl", proxy=["runs/a", "runs/b"], gold="scores",
    ...                                  select=["mean", "min"], output="gh")
    >>> spec.data.source, spec.proxy, spec.run.n_resamples
    ('pools.jsonl', ['runs/a', 'runs/b'], 200)
    >>> GoodhartSpec.from_options(pi0="softmax")
    Traceback (most recent call last):
    rewardlab.config.ConfigError: pi0 must be one of ['uniform', 'logprobs'], got 'softmax'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rewardlab.config import MODEL_HELP, RULE_HELP, ConfigError, ScoringRunSpec, Spec, option
from rewardlab.data.spec import DataSpec


@dataclass
class BonSpec(Spec):
    """`rewardlab bon`: pick each prompt's best candidate under a selection rule."""

    section_title = "bon"

    model: str | None = option(None, flag="--model", aliases=("-m",), help=MODEL_HELP + " (required)")
    select: str = option("mean", flag="--select", help=RULE_HELP)
    n: int | None = option(None, min=1, flag="-n", help="Use the first n candidates of each pool (default: all; "
                           "pools must then have equal sizes).")
    data: DataSpec = field(default_factory=DataSpec)
    run: ScoringRunSpec = field(default_factory=ScoringRunSpec)

    def check(self) -> None:
        from rewardlab.errors import RewardlabError
        from rewardlab.rules import parse_rule

        try:
            parse_rule(self.select)
        except RewardlabError as e:
            raise ConfigError("{0}: " + str(e).replace("{", "{{").replace("}", "}}"), "select") from None


@dataclass
class GoodhartSpec(Spec):
    """`rewardlab goodhart`: best-of-n and tilted-policy curves of each proxy, scored by gold, with CIs."""

    section_title = "goodhart"

    proxy: list[str] = option(default_factory=list, flag="--proxy", help=(
        "Proxy reward model(s) (any --model form): repeat the flag or separate with commas (required)."))
    gold: str | None = option(None, flag="--gold", help=(
        "Gold reward: a list column of the pools (e.g. 'scores', the simulator's gold utility) or a reward model "
        "(any --model form) (required)."))
    select: list[str] = option(default_factory=list, flag="--select", help=(
        "Selection rule(s), repeatable or comma-separated (default: mean, and lcb:1, min, uwo:1 where the proxy "
        "has std or members). " + RULE_HELP))
    n: int | None = option(None, min=1, flag="-n", help="Use the first n candidates of each pool (>= 1).")
    n_grid: str | None = option(None, flag="--n-grid", help=(
        "Best-of-n sample sizes, comma-separated and increasing, e.g. 1,2,3,5,8,13 (each at most the pool size; "
        "default 1, 2, 4, ... and the pool size)."))
    pi0: Literal["uniform", "logprobs"] = option("uniform", flag="--pi0", help=(
        "Base policy of the tilted policies: uniform, or logprobs (the sampler's, from `rewardlab generate`)."))
    data: DataSpec = field(default_factory=DataSpec)
    run: ScoringRunSpec = field(default_factory=ScoringRunSpec)

    def check(self) -> None:
        from rewardlab.errors import RewardlabError
        from rewardlab.rules import parse_rule

        for r in self.select:
            try:
                parse_rule(r)
            except RewardlabError as e:
                raise ConfigError("{0}: " + str(e).replace("{", "{{").replace("}", "}}"), "select") from None

    def rules(self) -> list[str]:
        """The rules asked for, or the default set."""
        return list(self.select) or ["mean", "lcb:1", "min", "uwo:1"]
