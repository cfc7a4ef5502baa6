"""SweepSpec: the settings of `rewardlab sweep`: the rungs, the variants, the evaluation, and the train settings
every run shares (a whole TrainConfig, so every `rewardlab train` option applies to every rung).

Example:
    >>> spec = SweepSpec(output="runs/ladder", rungs=["minilm:1", "minilm:6"], variants=["balance-length"])
    >>> [r.label for r in spec.ladder()], spec.variant_targets()
    (['minilm:1', 'minilm:6'], ['minilm:6'])
    >>> SweepSpec(rungs=["minilm:1"], variants=["bigger"])
    Traceback (most recent call last):
    rewardlab.config.ConfigError: variants: unknown variant 'bigger'; known: plain, balance-length, balance-weights, head-disentangled, length-control
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rewardlab.config import ConfigError, Spec, option
from rewardlab.sweep.ladder import (
    DEFAULT_RUNGS,
    VARIANTS,
    Rung,
    parse_rung,
    parse_rungs,
    rung_train_config,
    rungs_option,
)
from rewardlab.train.config import TrainConfig


@dataclass
class SweepSpec(Spec):
    """What `rewardlab sweep` trains and evaluates, and where it writes."""

    section_title = "sweep"

    output: str | None = option(None, flag="--output", aliases=("-o",), help=(
        "Output folder: sweep.json, sweep.csv, sweep.md, sweep.png and runs/<rung>/result.json (the folder of an "
        "earlier sweep resumes it: finished runs with the same settings are not retrained)."))
    rungs: list[str] = option(default_factory=lambda: list(DEFAULT_RUNGS), help=(
        "The ladder, comma-separated, smallest first: BACKBONE[:LAYERS][:full|lora|frozen][:mlp|mlpN], e.g. "
        "minilm:1,minilm:6,minilm:6:mlp,smollm2:lora,smollm2:full (default: that ladder without the mlp rung "
        "and with minilm:2,minilm:3)."))
    variants: list[str] = option(default_factory=lambda: ["plain"], help=(
        "Runs beside plain Bradley-Terry on the --variant-rungs: plain, balance-length, balance-weights, "
        "head-disentangled, length-control (comma-separated)."))
    variant_rungs: list[str] = option(default_factory=list, help=(
        "The rungs that get the --variants (default: the last rung, the top of the ladder)."))
    train_eval_n: int = option(1000, min=0, help=(
        "Training pairs scored for the train accuracy and the generalisation gap (a seeded sample; 0: all)."))
    probes: int = option(100, min=0, help=(
        "Held-out prompts on which each model meets the adversarial probes (token soup, prompt echo, off-prompt "
        "answer); 0: none."))
    n_resamples: int = option(1000, min=100, help="Bootstrap resamples of every 95% CI (clustered by prompt).")
    keep_models: bool = option(False, help="Keep each run's trained model in runs/<rung>/model (default: removed "
                               "after its evaluation).")
    overwrite: bool = option(False, help="Retrain every run, also those the output folder already holds.")
    plot: bool = option(True, help="Write sweep.png (held-out accuracy and gold agreement against parameters).")
    train: TrainConfig = field(default_factory=TrainConfig)

    def check(self) -> None:
        rungs = rungs_option(self.rungs, "rungs")
        unknown = [v for v in self.variants if v not in VARIANTS]
        if unknown:
            raise ConfigError(f"{{0}}: unknown variant {unknown[0]!r}; known: {', '.join(VARIANTS)}", "variants")
        targets = rungs_option(self.variant_rungs, "variant_rungs", distinct=False)
        for text, r in zip(self.variant_rungs, targets, strict=True):
            if r not in rungs:
                raise ConfigError(f"{{0}}: {text!r} is not one of the rungs", "variant_rungs")

    def ladder(self) -> list[Rung]:
        """The rungs, in the order given."""
        return parse_rungs(self.rungs)

    def variant_targets(self) -> list[str]:
        """Labels of the rungs that get the variants."""
        if self.variant_rungs:
            return [parse_rung(t).label for t in self.variant_rungs]
        return [self.ladder()[-1].label]

    def runs(self) -> list[tuple[Rung, str]]:
        """(rung, variant) of every row, in order: each rung's plain run, then its variants."""
        targets = set(self.variant_targets())
        extra = [v for v in dict.fromkeys(self.variants) if v != "plain"]
        out: list[tuple[Rung, str]] = []
        for rung in self.ladder():
            out.append((rung, "plain"))
            if rung.label in targets:
                out += [(rung, v) for v in extra]
        return out

    def run_config(self, rung: Rung, variant: str, output: str) -> TrainConfig:
        """The TrainConfig of one run: the shared train settings, the rung's, the variant's, and its folder.

        Raises:
            RewardlabError: the combination breaks a train rule (named by its dotted path and the run).
        """
        over, _ = VARIANTS[variant]
        return rung_train_config(self.train, rung, {**(over or {}), "run.output": output, "run.resume": False},
                                 f"sweep run {rung.label} ({variant})")
