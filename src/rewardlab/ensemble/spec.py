"""EnsembleSpec: the settings of `rewardlab train-ensemble`: the members (each a rung of the backbone ladder, the
same rung may repeat), how their seeds differ, how their scales are set, and the train settings every member
shares (a whole TrainConfig, so every `rewardlab train` option applies to every member).

Example:
    >>> spec = EnsembleSpec(output="runs/diverse", members=["minilm:2", "minilm:6", "minilm:6"])
    >>> [(r.label, seed) for r, seed in spec.plan()]
    [('minilm:2', 0), ('minilm:6', 1), ('minilm:6', 2)]
    >>> EnsembleSpec(members=["minilm:2"])
    Traceback (most recent call last):
    rewardlab.config.ConfigError: members: an ensemble needs at least two members, got 1
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rewardlab.config import ConfigError, Spec, option
from rewardlab.sweep.ladder import Rung, parse_rung, rung_train_config, rungs_option
from rewardlab.train.config import TrainConfig

#: the default members: MiniLM at three depths, fine-tuned (different representations, all offline)
DEFAULT_MEMBERS = ("minilm:2", "minilm:3", "minilm:6")


@dataclass
class EnsembleSpec(Spec):
    """What `rewardlab train-ensemble` trains and where it writes.

    Example:
        >>> from rewardlab import EnsembleSpec
        >>> spec = EnsembleSpec(members=["minilm:2", "minilm:6:lora"], seed_stride=10)
        >>> [seed for _, seed in spec.plan()], spec.member_config(1, *spec.plan()[1], "m1").model.lora.enabled
        ([0, 10], True)
    """

    section_title = "ensemble"

    output: str | None = option(None, flag="--output", aliases=("-o",), help=(
        "Output folder: rewardlab.json (the manifest every scorer loads), members/NN-RUNG/ (one checkpoint each) "
        "and ensemble.json (cost and held-out metrics per member). An earlier folder of the same settings resumes: "
        "finished members are not retrained."))
    members: list[str] = option(default_factory=lambda: list(DEFAULT_MEMBERS), flag="--models", help=(
        "The member models, comma-separated, each a ladder rung BACKBONE[:LAYERS][:full|lora|frozen][:mlp|mlpN], e.g. "
        "minilm:2,minilm:6,minilm:6:lora,smollm2:lora; a rung may repeat (then only its seed differs)."))
    seed_stride: int = option(1, min=1, help=(
        "Member i trains with seed (run.seed + i * stride): its own head and LoRA initialisation and data order."))
    calibration_n: int = option(1000, min=2, help=(
        "Training responses each member scores to set its scale: its rewards minus their mean over these, divided "
        "by their standard deviation, so min, lcb, uwo and the std compare members on one scale."))
    overwrite: bool = option(False, help="Retrain every member, also those the output folder already holds.")
    train: TrainConfig = field(default_factory=TrainConfig)

    def check(self) -> None:
        rungs = rungs_option(self.members, "members", distinct=False)
        if len(rungs) < 2:
            raise ConfigError(f"{{0}}: an ensemble needs at least two members, got {len(rungs)}", "members")

    def plan(self) -> list[tuple[Rung, int]]:
        """(rung, seed) of every member, in order."""
        base = self.train.run.seed
        return [(parse_rung(m), base + i * self.seed_stride) for i, m in enumerate(self.members)]

    def member_config(self, i: int, rung: Rung, seed: int, output: str) -> TrainConfig:
        """The TrainConfig of member i: the shared settings, the rung's, its seed and its folder.

        Raises:
            RewardlabError: the combination breaks a train rule (named by its dotted path and the member).
        """
        return rung_train_config(self.train, rung, {"run.seed": seed, "run.output": output, "run.resume": False},
                                 f"ensemble member {i} ({rung.label})")
