"""TrainConfig: every knob of `rewardlab train`, settable from YAML and from flags (flags win)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewardlab.errors import RewardlabError


@dataclass
class TrainConfig:
    """Configuration of one training run; defaults train MiniLM + BT + scalar head on simulator pairs."""

    # model
    model: str = "minilm"
    head: str = "scalar"  # scalar | gaussian | ensemble
    members: int = 4  # ensemble size (head=ensemble)
    member_gaussian: bool = False
    bootstrap: bool = False  # each ensemble member sees its own bootstrap resample (Poisson(1) weights)
    pooling: str = "auto"
    lora: bool = False
    lora_r: int = 8
    lora_alpha: int = 16
    freeze_backbone: bool = False
    cache_features: bool = True  # frozen backbone: compute pooled features once, train the head on them
    head_epochs: int = 30  # epochs over cached features (frozen-backbone path)
    # rendering
    render_mode: str = "auto"
    max_length: int = 512
    eos: str = "auto"
    # loss
    loss: str = "bt"  # bt | margin | soft | rao_kupper | davidson | gaussian
    center_eta: float = 0.0
    anchor_lambda: float = 0.1
    anchor_columns: list[str] | None = None  # e.g. [gold_chosen, gold_rejected]: external scores for anchors
    # data
    data: str | None = None  # None: simulator pairs
    eval_data: str | None = None
    eval_split: float = 0.1
    data_format: str | None = None
    prompt_key: str | None = None
    chosen_key: str | None = None
    rejected_key: str | None = None
    on_invalid: str = "error"
    limit: int | None = None
    sim_n: int = 4000
    sim_eval_n: int = 500
    sim_preset: str = "neutral"
    sim_length_bias: float | None = None
    sim_seed: int = 0
    # optimisation
    epochs: float = 1.0
    max_steps: int = -1
    lr: float = 1e-4
    head_lr: float = 1e-3  # learning rate of the head on cached features (frozen-backbone path)
    weight_decay: float = 0.0
    warmup_ratio: float = 0.05
    batch_size: int = 16
    eval_batch_size: int = 64
    grad_accum: int = 1
    bf16: bool = False
    device: str = "auto"  # auto (cuda when available, else cpu), cpu, cuda, mps
    seed: int = 0
    group_by_length: bool = True
    # speed (automatic defaults are exact: same losses and rewards as the plain layout)
    pack_pairs: bool | None = None  # chosen and rejected of a pair in one row; None: when the model allows it
    prefix_sharing: bool | None = None  # decoders: the prompt once per pair in that row; None: for causal decoders
    # bookkeeping
    output: str = "runs/rm"
    logging_steps: int = 10
    eval_steps: int | None = None  # None: evaluate at the end of each epoch
    save_steps: int | None = None  # None: save a checkpoint at each epoch end
    save_total_limit: int = 2
    report_to: list[str] = field(default_factory=list)
    resume: bool = False
    progress: bool = True

    @classmethod
    def from_yaml(cls, path: str | Path) -> TrainConfig:
        """Read a YAML file of TrainConfig fields; unknown keys are an error naming the key and the file."""
        import yaml

        p = Path(path)
        try:
            d = yaml.safe_load(p.read_text()) or {}
        except OSError as e:
            raise RewardlabError(f"{p}: cannot read config: {e.strerror}") from None
        except yaml.YAMLError as e:
            raise RewardlabError(f"{p}: not valid YAML: {e}") from None
        if not isinstance(d, dict):
            raise RewardlabError(f"{p}: expected a mapping of config fields")
        return cls().updated(d, where=str(p))

    def updated(self, d: dict[str, Any], where: str = "flags") -> TrainConfig:
        """A copy with fields from `d` (None values ignored); unknown fields are an error."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise RewardlabError(f"{where}: unknown config field(s) {unknown}")
        return dataclasses.replace(self, **{k: v for k, v in d.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
