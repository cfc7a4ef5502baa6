"""TrainConfig: every setting of `rewardlab train`, as a tree of validated specs.

    TrainConfig(model=ModelSpec(backbone, head=HeadConfig, lora=LoraSpec, freeze_backbone, num_layers),
                render=RenderSpec, data=DataSpec, heldout=HeldoutSpec, balance=BalanceSpec, augment=AugmentSpec,
                sim=SimSpec, loss=LossSpec, optim=OptimSpec, run=RunSpec)

Each field is declared once (`rewardlab.config.option`): its help text, choices, range and flag. The tree is
validated when built, including the rules that cross sections (loss vs head, packing vs sharing, anchors vs
loss, bootstrap vs ensemble, LoRA vs a frozen backbone), so a bad config fails before any model loads.
It round-trips through YAML (`to_yaml` / `from_yaml`); `rewardlab train` generates one flag per field.

Example:
    >>> cfg = TrainConfig.from_options(head="gaussian", loss="gaussian", lr=3e-4)
    >>> cfg.model.head.kind, cfg.optim.lr
    ('gaussian', 0.0003)
    >>> TrainConfig.from_options(head="scalar", loss="gaussian")
    Traceback (most recent call last):
    rewardlab.config.ConfigError: loss.name 'gaussian' needs a variance head: model.head.kind gaussian, or an ensemble with model.head.member_gaussian
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rewardlab.config import ConfigError, Spec, option
from rewardlab.data.balance_spec import BalanceSpec
from rewardlab.data.spec import DataSpec
from rewardlab.render import RenderSpec
from rewardlab.train.augment_spec import AugmentSpec, tie_labelling

HEAD_KINDS = ("scalar", "gaussian", "ensemble", "disentangled")
POOLINGS = ("auto", "last", "mean", "cls")
BUILTIN_LOSSES = ("bt", "margin", "soft", "rao_kupper", "davidson", "gaussian")
REPORTERS = ("tensorboard", "wandb", "mlflow", "comet_ml", "trackio")
# lambda_O of a disentangled head on frozen features (--freeze-backbone): at ODIN's 1.0 the orthogonality term held
# the quality row away from the directions it needs there (docs/ALGORITHMS.md 8.1, docs/PERFORMANCE.md)
FROZEN_ODIN_ORTHOGONAL = 0.1


@dataclass
class HeadConfig(Spec):
    """The reward head: scalar, Gaussian (mean and variance) or an ensemble, linear or an MLP; and how the
    sequence is pooled."""

    section_title = "model"

    kind: Literal["scalar", "gaussian", "ensemble", "disentangled"] = option("scalar", flag="--head", help=(
        "scalar (one reward), gaussian (mean + variance), ensemble (several members) or disentangled (ODIN-style "
        "quality and length heads trained on their sum; the saved reward is the quality head alone)."))
    members: int = option(4, min=2, help="Ensemble size (--head ensemble).")
    member_gaussian: bool = option(False, help="Ensemble members are Gaussian heads (mean + variance each).")
    pooling: Literal["auto", "last", "mean", "cls"] = option("auto", help=(
        "How the sequence becomes one vector: auto (the architecture's own: cls for encoders, last token for "
        "decoders), last, mean or cls."))
    hidden: int = option(0, min=0, flag="--head-hidden", help=(
        "0: a linear head. N > 0: an MLP head, ReLU layers of N units (per ensemble member) before the output "
        "rows, for every head type; it loads through rewardlab only (not as a plain HF model)."))
    layers: int = option(1, min=1, flag="--head-layers", help="Hidden ReLU layers of an MLP head (--head-hidden).")

    def check(self) -> None:
        if self.member_gaussian and self.kind != "ensemble":
            raise ConfigError(f"{{0}} applies to ensembles; with {{1}} {self.kind!r} use {{1}} gaussian for a "
                              "variance head", "member_gaussian", "kind")
        if self.layers != 1 and self.hidden == 0:
            raise ConfigError("{0} sets the depth of an MLP head; give its width with {1} (0 is a linear head)",
                              "layers", "hidden")

    @property
    def variance(self) -> bool:
        """Whether the head predicts a variance (and trains with the Gaussian loss)."""
        return self.kind == "gaussian" or (self.kind == "ensemble" and self.member_gaussian)

    def spec(self) -> Any:
        """The model-side `HeadSpec` (stored in checkpoints)."""
        from rewardlab.models.reward_model import HeadSpec

        return HeadSpec(self.kind, self.members if self.kind == "ensemble" else 1, self.member_gaussian, self.pooling,
                        self.hidden, self.layers)


@dataclass
class LoraSpec(Spec):
    """LoRA adapters on the backbone's linear layers (the head stays fully trainable)."""

    section_title = "model"

    enabled: bool = option(False, flag="--lora", help="Train LoRA adapters instead of the whole backbone.")
    r: int = option(8, min=1, flag="--lora-r", help="LoRA rank.")
    alpha: int = option(16, min=1, flag="--lora-alpha", help="LoRA scaling alpha.")

    def as_dict(self) -> dict[str, int] | None:
        """The adapter settings for `build_reward_model` (None when LoRA is off)."""
        return {"r": self.r, "alpha": self.alpha} if self.enabled else None


@dataclass
class ModelSpec(Spec):
    """What is trained: the backbone, its head, LoRA, and whether the backbone is frozen."""

    section_title = "model"

    backbone: str = option("minilm", flag="--model", help=(
        "Backbone: 'minilm' (offline default), 'smollm2' (SmolLM2-135M-Instruct, offline after `make smollm`; chat "
        "template, up to 8,192 positions), a folder or a hub id."))
    head: HeadConfig = field(default_factory=HeadConfig)
    lora: LoraSpec = field(default_factory=LoraSpec)
    freeze_backbone: bool = option(False, help="Train the head only (features cached once; see --cache-features).")
    num_layers: int | None = option(None, min=1, flag="--num-layers", help=(
        "Keep only the backbone's first N transformer layers (a smaller, faster model; the saved config says N, so "
        "plain HF loading gives the same model). Default: all."))

    def check(self) -> None:
        if self.lora.enabled and self.freeze_backbone:
            raise ConfigError("{0} and {1} together: LoRA already keeps the backbone's weights frozen; choose one",
                              "lora.enabled", "freeze_backbone")


@dataclass
class HeldoutSpec(Spec):
    """Held-out pairs for evaluation during and after training."""

    section_title = "data"

    data: str | None = option(None, flag="--eval-data", help="Held-out pairs (read with the --data options).")
    split: float = option(0.1, min=0.0, max=0.9, flag="--eval-split", help=(
        "Without --eval-data: hold out this share of the --data prompts (all pairs of a prompt on one side)."))


@dataclass
class SimSpec(Spec):
    """Simulator pairs, used when no --data is given."""

    section_title = "simulator (no --data)"

    n: int = option(4000, min=1, flag="--sim-n", help="Simulated training pairs.")
    eval_n: int = option(500, min=1, flag="--sim-eval-n", help="Simulated held-out pairs.")
    preset: Literal["neutral", "human_like", "human-like", "realistic"] = option("neutral", flag="--sim-preset", help=(
        "Simulator preset: neutral (no bias), human_like (length only a bias) or realistic (length partly quality)."))
    length_bias: float | None = option(None, flag="--sim-length-bias", help="Annotator preference for longer "
                                       "responses (overrides the preset).")
    seed: int = option(0, min=0, flag="--sim-seed", help="Simulator seed (held-out pairs use seed + 10000).")


@dataclass
class LossSpec(Spec):
    """The pairwise loss and its parameters."""

    section_title = "loss"

    name: str = option("bt", flag="--loss", help=(
        "bt, margin, soft, rao_kupper, davidson or gaussian (or a loss registered with @register_loss)."))
    center_eta: float = option(0.0, min=0.0, help="Weight of the reward-centring penalty eta * (r_c + r_r)^2.")
    anchor_columns: list[str] | None = option(None, help=(
        "Two columns of external scores (chosen, rejected), comma-separated, for absolute anchors "
        "(--loss gaussian)."))
    anchor_lambda: float = option(0.1, min=0.0, help="Weight of the anchor term (with --anchor-columns).")
    odin_quality_corr: float = option(1.0, min=0.0, help=(
        "--head disentangled: weight of |Pearson(quality reward, response length)| over the batch."))
    odin_length_corr: float = option(1.0, min=0.0, help=(
        "--head disentangled: weight of -Pearson(length reward, response length), which ties the length head to "
        "length."))
    odin_orthogonal: float | None = option(None, min=0.0, help=(
        "--head disentangled: weight of |cosine| between the quality and length heads' weight vectors. Default: 1.0 "
        "(ODIN's) when the backbone trains, 0.1 with --freeze-backbone, where 1.0 cost gold agreement in our "
        "measurements (docs/ALGORITHMS.md 8.1)."))
    odin_measure: Literal["slope", "corr"] = option("slope", help=(
        "--head disentangled: how the quality terms measure dependence on length: slope (reward change per "
        "standard deviation of length; its gradient stays bounded while q is nearly flat) or corr (Pearson, "
        "ODIN's own form, which left the quality reward near chance in our measurements)."))
    odin_within_pair: bool = option(True, help=(
        "--head disentangled: also penalise |Pearson(q_c - q_r, L_c - L_r)|, length differences within pairs "
        "(the within-prompt view); false: ODIN's batch correlation only."))

    def disentangle_spec(self, frozen_backbone: bool = False) -> Any:
        """The `DisentangleSpec` of a disentangled head's regularisers; `frozen_backbone` picks lambda_O's default
        (0.1 on frozen features, else 1.0) when `odin_orthogonal` is not set."""
        from rewardlab.train.losses import DisentangleSpec

        ortho = self.odin_orthogonal
        if ortho is None:
            ortho = FROZEN_ODIN_ORTHOGONAL if frozen_backbone else 1.0
        return DisentangleSpec(self.odin_quality_corr, self.odin_length_corr, ortho, self.odin_within_pair,
                               self.odin_measure)

    def check(self) -> None:
        if self.name not in BUILTIN_LOSSES:
            from rewardlab.train.losses import LOSSES  # a loss registered by the user is valid too

            if self.name not in LOSSES:
                raise ConfigError(f"{{0}} must be one of {sorted(LOSSES)}, got {self.name!r}", "name")
        if self.anchor_columns is not None:
            if len(self.anchor_columns) != 2:
                raise ConfigError("{0} takes two columns, the chosen and the rejected external score; got "
                                  f"{len(self.anchor_columns)}", "anchor_columns")
            if self.name != "gaussian":
                raise ConfigError("{0} are used by {1} gaussian only (absolute anchors for a variance head)",
                                  "anchor_columns", "name")


@dataclass
class OptimSpec(Spec):
    """Optimisation: schedule, batches, and the exact speed layouts."""

    section_title = "optimisation"

    epochs: float = option(1.0, min=0.0, min_exclusive=True, help="Passes over the training pairs.")
    max_steps: int = option(-1, min=-1, help="Stop after this many optimiser steps (-1: use --epochs).")
    lr: float = option(1e-4, min=0.0, min_exclusive=True, help="Peak learning rate (linear decay after warm-up).")
    weight_decay: float = option(0.0, min=0.0, help="AdamW weight decay.")
    warmup_ratio: float = option(0.05, min=0.0, max=1.0, help="Share of the steps spent warming up.")
    batch_size: int = option(16, min=1, help="Pairs per device and step.")
    eval_batch_size: int = option(64, min=1, help="Pairs per batch during evaluation.")
    grad_accum: int = option(1, min=1, help="Gradient accumulation steps.")
    group_by_length: bool = option(True, help="Batches of pairs of similar length (less padding).")
    pack_pairs: bool | None = option(None, help=(
        "Chosen and rejected of a pair in one row (default: when the model allows it exactly)."))
    prefix_sharing: bool | None = option(None, help=(
        "Decoders: the prompt computed once per pair, in the packed row (default: on for causal decoders)."))
    bootstrap: bool = option(False, help="Each ensemble member trains on its own bootstrap resample (Poisson(1) "
                             "weights).")
    cache_features: bool = option(True, help=(
        "With --freeze-backbone: compute pooled features once and train the head on them (exact, much faster)."))
    head_epochs: int = option(30, min=1, help="Epochs over cached features (frozen backbone).")
    head_lr: float = option(1e-3, min=0.0, min_exclusive=True, help="Learning rate of the head on cached features.")
    gradient_checkpointing: bool = option(False, help=(
        "Recompute each layer's activations in the backward pass instead of keeping them: much less memory (long "
        "sequences, e.g. SmolLM2 at --max-length 2048), about a third more compute; same gradients."))

    def check(self) -> None:
        if self.prefix_sharing and self.pack_pairs is False:
            raise ConfigError("{0} runs on packed rows: drop {1} false, or set {0} false", "prefix_sharing",
                              "pack_pairs")


@dataclass
class RunSpec(Spec):
    """Where the run goes, on which device, and its bookkeeping."""

    section_title = "run"

    output: str = option("runs/rm", flag="--output", aliases=("-o",), help="Folder for the trained model.")
    seed: int = option(0, min=0, help="Random seed (initialisation, batch order, held-out split).")
    device: str = option("auto", help=("auto (cuda when available, else cpu), cpu, cuda or mps. Under torchrun / "
                                       "accelerate launch each process takes its own GPU."))
    bf16: bool = option(False, help="bf16 mixed precision (fast on GPUs and AMX CPUs; emulated and slow elsewhere).")
    logging_steps: int = option(10, min=1, help="Log the running loss every N steps.")
    eval_steps: int | None = option(None, min=1, help="Evaluate every N steps (default: at each epoch end).")
    save_steps: int | None = option(None, min=1, help="Checkpoint every N steps (default: at each epoch end).")
    save_total_limit: int = option(2, min=1, help="Keep at most this many checkpoints.")
    report_to: list[str] = option(default_factory=list, help="Experiment loggers, comma-separated: "
                                  "tensorboard, wandb, mlflow, comet_ml, trackio.")
    resume: bool = option(False, help="Resume from the newest complete checkpoint in --output.")
    progress: bool = option(True, help="Progress bars.")

    def check(self) -> None:
        bad = [r for r in self.report_to if r not in REPORTERS + ("none", "all")]
        if bad:
            raise ConfigError(f"{{0}} must name loggers among {list(REPORTERS)}, got {bad}", "report_to")


@dataclass
class TrainConfig(Spec):
    """Configuration of one training run; the defaults train MiniLM + BT + a scalar head on simulator pairs.

    Build it with keyword sections (`TrainConfig(optim=OptimSpec(lr=3e-4))`), from flat option names
    (`TrainConfig.from_options(lr=3e-4)`, the CLI flags without dashes), from YAML (`from_yaml`), or with
    dotted overrides (`cfg.with_overrides({"optim.lr": 3e-4})`).

    Raises:
        ConfigError: a value or a combination breaks a rule; the message names the parameters.

    Example:
        >>> cfg = TrainConfig.from_options(lr=3e-4)
        >>> cfg.optim.lr, cfg.with_overrides({"optim.lr": 1e-3}).optim.lr
        (0.0003, 0.001)
    """

    model: ModelSpec = field(default_factory=ModelSpec)
    render: RenderSpec = field(default_factory=RenderSpec)
    data: DataSpec = field(default_factory=DataSpec)
    heldout: HeldoutSpec = field(default_factory=HeldoutSpec)
    balance: BalanceSpec = field(default_factory=BalanceSpec)  # training pairs only (train-only; not in DataSpec)
    augment: AugmentSpec = field(default_factory=AugmentSpec)  # training pairs only, after balancing
    sim: SimSpec = field(default_factory=SimSpec)
    loss: LossSpec = field(default_factory=LossSpec)
    optim: OptimSpec = field(default_factory=OptimSpec)
    run: RunSpec = field(default_factory=RunSpec)

    def check(self) -> None:
        head, loss = self.model.head, self.loss.name
        if loss == "gaussian" and not head.variance:
            raise ConfigError("{0} 'gaussian' needs a variance head: {1} gaussian, or an ensemble with {2}",
                              "loss.name", "model.head.kind", "model.head.member_gaussian")
        if head.variance and loss not in ("bt", "gaussian"):
            raise ConfigError(f"{{0}} {loss!r} gives no signal to a variance head ({{1}} {head.kind}); use {{0}} "
                              "gaussian", "loss.name", "model.head.kind")
        odin = {f: getattr(self.loss, f) for f in ("odin_quality_corr", "odin_length_corr", "odin_orthogonal",
                                                   "odin_measure", "odin_within_pair")}
        changed = [f for f, v in odin.items() if v != LossSpec.__dataclass_fields__[f].default]
        if changed and head.kind != "disentangled":
            raise ConfigError(f"{{0}} applies to {{1}} disentangled; {{1}} is {head.kind!r}", f"loss.{changed[0]}",
                              "model.head.kind")
        if self.optim.bootstrap and head.kind != "ensemble":
            raise ConfigError(f"{{0}} resamples the pairs of each ensemble member; {{1}} is {head.kind!r}",
                              "optim.bootstrap", "model.head.kind")
        if "ties" in self.augment.kinds:
            tie_labelling(self.loss_name)
        if self.heldout.data is not None and self.heldout.data == self.data.source:
            raise ConfigError("{0} is the training file itself ({1}); held-out numbers would be training numbers",
                              "heldout.data", "data.source")

    @property
    def loss_name(self) -> str:
        """The loss that will train: a variance head asked for the default BT loss trains with the Gaussian loss
        (its probit likelihood; BT gives the variance no signal)."""
        return "gaussian" if self.model.head.variance and self.loss.name == "bt" else self.loss.name

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        """Read a YAML config: nested sections (as `to_yaml` writes) and/or flat option names (`lr: 3e-4`).

        Raises:
            RewardlabError: unreadable file, unknown keys (named with the file); ConfigError: a broken rule.
        """
        d = cls.read_yaml(path)
        sections = {k: v for k, v in d.items() if k in cls.__dataclass_fields__ and isinstance(v, dict)}
        flat = {k: v for k, v in d.items() if k not in sections}
        cfg = cls.from_dict(sections, where=str(path))
        return cfg.with_options(flat, where=str(path)) if flat else cfg

    def to_flat_dict(self) -> dict[str, Any]:
        """{dotted path: value} of every leaf (for logs and run metadata)."""
        out: dict[str, Any] = {}

        def walk(d: dict[str, Any], prefix: str) -> None:
            for k, v in d.items():
                if isinstance(v, dict):
                    walk(v, prefix + k + ".")
                else:
                    out[prefix + k] = v

        walk(self.to_dict(), "")
        return out
