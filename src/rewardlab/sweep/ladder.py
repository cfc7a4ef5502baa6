"""The rungs of a backbone ladder and the per-run variants of `rewardlab sweep`.

A rung is written `BACKBONE[:TOKEN...]`: the backbone (`minilm`, `smollm2`, a folder or a hub id), then in any
order a layer count (`minilm:2`: the first two transformer layers, `--num-layers 2`), a training mode (`full`,
the default; `lora`; `frozen`: the head only, on cached features) and a head (`mlp`: one ReLU layer of 256 units
before the output, `mlp512`: of 512 units; default: the linear head of the train settings).

A variant changes how one rung is trained or scored, beside plain Bradley-Terry: `balance-length`
(`train --balance length`), `balance-weights` (`--balance length --balance-method weights`), `head-disentangled`
(`train --head disentangled`) and `length-control` (the plain model's rewards with the label-fitted length control
of `rewardlab eval --length-control`, cross-fitted on the held-out pairs; no training of its own).

Example:
    >>> parse_rung("minilm:2")
    Rung(backbone='minilm', layers=2, mode='full', mlp=0)
    >>> parse_rung("smollm2:lora").overrides()["model.lora.enabled"]
    True
    >>> parse_rung("minilm:6:mlp").label, parse_rung("minilm:6:mlp").mlp
    ('minilm:6:mlp', 256)
    >>> parse_rung("minilm:two")
    Traceback (most recent call last):
    rewardlab.errors.RewardlabError: rung 'minilm:two': unknown part 'two' (expected a layer count, full, lora, frozen, mlp or mlpN)
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rewardlab.config import ConfigError
from rewardlab.errors import RewardlabError

if TYPE_CHECKING:
    from rewardlab.train.config import TrainConfig

MODES = ("full", "lora", "frozen")
DEFAULT_RUNGS = ("minilm:1", "minilm:2", "minilm:3", "minilm:6", "smollm2:lora", "smollm2:full")
DEFAULT_MLP_WIDTH = 256
_MLP = re.compile(r"mlp(\d+)?")
#: train settings a rung decides (commands over rungs leave their flags out; in Python the rung overrides them)
RUNG_FIELDS = ("train.model.backbone", "train.model.num_layers", "train.model.lora.enabled",
               "train.model.freeze_backbone")
#: train settings a command over rungs (sweep, train-ensemble) decides for each run
RUN_FIELDS = ("train.run.output", "train.run.resume")

#: variant -> (TrainConfig overrides, or None for a variant that re-scores the plain model; what it is)
VARIANTS: dict[str, tuple[dict[str, Any] | None, str]] = {
    "plain": ({}, "the rung as given (Bradley-Terry and the train settings)"),
    "balance-length": ({"balance.by": "length"}, "train --balance length (resample the training pairs)"),
    "balance-weights": ({"balance.by": "length", "balance.method": "weights"},
                        "train --balance length --balance-method weights"),
    "head-disentangled": ({"model.head.kind": "disentangled"}, "train --head disentangled (the quality head)"),
    "length-control": (None, "the plain model's rewards, length-controlled by a fit on held-out labels "
                             "(eval --length-control: each half of the prompts corrected by the other half's fit)"),
}
RESCORED = {name for name, (over, _) in VARIANTS.items() if over is None}


@dataclass(frozen=True)
class Rung:
    """One model of the ladder: backbone, how many of its layers, how it trains, and its head width."""

    backbone: str
    layers: int | None = None
    mode: str = "full"
    mlp: int = 0

    @property
    def label(self) -> str:
        """The rung as written canonically: backbone, layers, mode (unless full with a layer count), head."""
        parts = [self.backbone]
        if self.layers is not None:
            parts.append(str(self.layers))
        if self.mode != "full" or self.layers is None:
            parts.append(self.mode)
        if self.mlp:
            parts.append("mlp" if self.mlp == DEFAULT_MLP_WIDTH else f"mlp{self.mlp}")
        return ":".join(parts)

    @property
    def slug(self) -> str:
        """A folder name for the rung (a backbone given as a path becomes its last part plus a short hash)."""
        name = self.backbone
        if "/" in name or "\\" in name:
            name = re.split(r"[/\\]", name.rstrip("/\\"))[-1] + "-" + hashlib.sha1(name.encode()).hexdigest()[:6]
        rest = self.label.split(":")[1:]
        return re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join([name, *rest]))

    def overrides(self) -> dict[str, Any]:
        """The TrainConfig paths this rung sets."""
        out: dict[str, Any] = {"model.backbone": self.backbone, "model.num_layers": self.layers,
                               "model.lora.enabled": self.mode == "lora",
                               "model.freeze_backbone": self.mode == "frozen"}
        if self.mlp:
            out["model.head.hidden"] = self.mlp
        return out


def parse_rung(text: str) -> Rung:
    """A Rung from `BACKBONE[:TOKEN...]` (see the module docstring).

    Raises:
        RewardlabError: an empty backbone, an unknown or repeated part, or a count of 0.
    """
    parts = [p.strip() for p in str(text).strip().split(":")]
    if not parts[0]:
        raise RewardlabError(f"rung {text!r}: no backbone before the first ':'")
    layers: int | None = None
    mode: str | None = None
    mlp = 0
    for part in parts[1:]:
        low = part.lower()
        m = _MLP.fullmatch(low)
        if low.isdigit():
            if layers is not None:
                raise RewardlabError(f"rung {text!r}: two layer counts")
            layers = int(low)
            if layers < 1:
                raise RewardlabError(f"rung {text!r}: the layer count must be at least 1")
        elif low in MODES:
            if mode is not None:
                raise RewardlabError(f"rung {text!r}: two training modes ({mode}, {low})")
            mode = low
        elif m:
            if mlp:
                raise RewardlabError(f"rung {text!r}: two heads")
            mlp = int(m.group(1)) if m.group(1) else DEFAULT_MLP_WIDTH
            if mlp < 1:
                raise RewardlabError(f"rung {text!r}: an MLP head needs at least one unit")
        else:
            raise RewardlabError(f"rung {text!r}: unknown part {part!r} (expected a layer count, "
                                 f"{', '.join(MODES)}, mlp or mlpN)")
    return Rung(parts[0], layers, mode or "full", mlp)


def parse_rungs(texts: list[str]) -> list[Rung]:
    """Rungs in the order given.

    Raises:
        RewardlabError: a rung that does not parse, no rung, or the same rung twice.
    """
    rungs = [parse_rung(t) for t in texts]
    if not rungs:
        raise RewardlabError("no rungs")
    seen: dict[Rung, str] = {}
    for t, r in zip(texts, rungs, strict=True):
        if r in seen:
            raise RewardlabError(f"rungs {seen[r]!r} and {t!r} are the same model")
        seen[r] = t
    return rungs


def rungs_option(texts: list[str], field: str, distinct: bool = True) -> list[Rung]:
    """The rungs of a spec's option, for its `check`.

    Args:
        texts: the option's rung texts.
        field: the option's name, for the error.
        distinct: also refuse no rung and the same rung twice (`parse_rungs`); False parses each alone.

    Returns:
        list[Rung]: in the order given.

    Raises:
        ConfigError: naming `field` and the rung that does not parse.
    """
    try:
        return parse_rungs(texts) if distinct else [parse_rung(t) for t in texts]
    except RewardlabError as e:
        raise ConfigError("{0}: " + str(e).replace("{", "{{").replace("}", "}}"), field) from None


def rung_train_config(train: TrainConfig, rung: Rung, updates: dict[str, Any], what: str) -> TrainConfig:
    """The TrainConfig of one run on a rung: the shared `train` settings, the rung's, then `updates`.

    Raises:
        RewardlabError: the combination breaks a train rule (named by its dotted path and `what`, the run).
    """
    try:
        return train.with_overrides({**rung.overrides(), **updates}, what)
    except ConfigError as e:
        raise RewardlabError(f"{what}: {e}") from None
