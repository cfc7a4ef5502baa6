"""LengthControlSpec: the length-control settings of `score` and `eval` (`--length-control`), in a module that
imports no numpy, so their specs load fast; the control itself is `rewardlab.eval.length_control`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rewardlab.config import ConfigError, Spec, option


@dataclass
class LengthControlSpec(Spec):
    """Length control of rewards (`rewardlab score --length-control`, `rewardlab eval --length-control`).

    Example:
        >>> LengthControlSpec(enabled=True).feature
        'log_chars'
        >>> LengthControlSpec(data="held.jsonl")
        Traceback (most recent call last):
        rewardlab.config.ConfigError: data applies with enabled; enabled is off
    """

    section_title = "length control"

    enabled: bool = option(False, flag="--length-control", help=(
        "Fit logit P(label) = gamma_R * reward diff + gamma_L * f(length) diff on held-out labelled pairs and use "
        "q = reward + (gamma_L / gamma_R) * f(length): the reward with the length preference the labels do not "
        "support removed. Without --length-control-data: cross-fitted on the scored pairs' labels (each half of "
        "the prompts controlled with the fit on the other half). Refused when held-out accuracy or the "
        "adversarial probes get worse (see --length-control-force)."))
    data: str | None = option(None, flag="--length-control-data", help=(
        "Labelled pairs file to fit on (read with the --data options); it should share no prompt with the scored "
        "data."))
    feature: Literal["log_chars", "chars"] = option("log_chars", flag="--length-control-feature", help=(
        "f(length): log_chars (standardized log(1 + characters), default) or chars (standardized characters)."))
    probes: int = option(200, flag="--length-control-probes", min=0, help=(
        "Prompts for the adversarial probes' check before and after the control (0: no probe check, said in "
        "the output)."))
    force: bool = option(False, flag="--length-control-force", help=(
        "Use the control even when the check fails (held-out accuracy drops beyond its CI or a probe wins "
        "significantly more often); the failure is still reported."))

    def check(self) -> None:
        if not self.enabled:
            for name, default in (("data", None), ("feature", "log_chars"), ("probes", 200), ("force", False)):
                if getattr(self, name) != default:
                    raise ConfigError("{0} applies with {1}; {1} is off", name, "enabled")
