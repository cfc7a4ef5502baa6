"""AugmentSpec: the counterfactual-augmentation settings (`--augment`), in a module that imports no numpy, so
TrainConfig loads fast; the augmentation itself is `rewardlab.train.augment`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rewardlab.config import ConfigError, Spec, option

KINDS = ("probes", "off-prompt", "ties")
DEFAULT_PROBES = ("filler", "flattery", "markdown", "padding", "hedges")
#: how each built-in loss takes the tie pairs (None: it cannot)
TIE_LABELLING: dict[str, str | None] = {"bt": None, "margin": None, "soft": "soft label 0.5",
                                         "gaussian": "soft label 0.5", "rao_kupper": "tie (log P(tie))",
                                         "davidson": "tie (log P(tie))"}


def _check_names(kinds: Sequence[str], probes: Sequence[str], kinds_name: str = "kinds",
                 probes_name: str = "probes") -> None:
    from rewardlab.probes.edits import PROBES

    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise ConfigError(f"{{0}}: unknown kind(s) {bad}; known: {list(KINDS)}", kinds_name)
    if len(set(kinds)) < len(kinds):
        raise ConfigError(f"{{0}} names a kind twice: {list(kinds)}", kinds_name)
    bad = [p for p in probes if p not in PROBES]
    if bad:
        raise ConfigError(f"{{0}}: unknown probe(s) {bad}; the audit's probes: {list(PROBES)}", probes_name)
    if not probes and any(k in ("probes", "ties") for k in kinds):
        raise ConfigError("{0} is empty; the probes and ties kinds need at least one probe", probes_name)


@dataclass
class AugmentSpec(Spec):
    """Counterfactual augmentation of the training pairs (`rewardlab train --augment probes,off-prompt,ties`).

    Example:
        >>> AugmentSpec(kinds=["probes", "ties"]).probes
        ['filler', 'flattery', 'markdown', 'padding', 'hedges']
        >>> AugmentSpec(kinds=["typos"])
        Traceback (most recent call last):
        rewardlab.config.ConfigError: kinds: unknown kind(s) ['typos']; known: ['probes', 'off-prompt', 'ties']
    """

    section_title = "data"

    kinds: list[str] = option(default_factory=list, flag="--augment", help=(
        "Extra training pairs, comma-separated: probes (chosen over rejected with a probe edit), off-prompt "
        "(chosen over a confident answer to another prompt), ties (a response vs itself with a probe: a tie; "
        "needs --loss soft, gaussian, rao_kupper or davidson). Held-out pairs are never augmented."))
    probes: list[str] = option(default_factory=lambda: list(DEFAULT_PROBES), flag="--augment-probes", help=(
        "The audit's probes used by --augment probes/ties, comma-separated (see rewardlab.audit.PROBES)."))
    rate: float = option(1.0, min=0.0, max=1.0, min_exclusive=True, flag="--augment-rate", help=(
        "Share of the training pairs that get each kind of extra pair (a seeded draw)."))

    def check(self) -> None:
        if not self.kinds:
            if self.probes != list(DEFAULT_PROBES) or self.rate != 1.0:
                raise ConfigError("{0} applies with {1}; {1} is empty",
                                  "probes" if self.probes != list(DEFAULT_PROBES) else "rate", "kinds")
            return
        _check_names(self.kinds, self.probes)

    @property
    def enabled(self) -> bool:
        """Whether any pairs are added."""
        return bool(self.kinds)


def tie_labelling(loss_name: str) -> str:
    """How the loss `loss_name` takes the augmentation's tie pairs.

    Args:
        loss_name: a built-in or registered loss.

    Returns:
        "soft label 0.5" or "tie (log P(tie))".

    Raises:
        ConfigError: the loss cannot take ties (bt, margin, or a registered loss that is neither a soft-label nor a
            tie loss), naming augment.kinds and loss.name.

    Example:
        >>> tie_labelling("davidson")
        'tie (log P(tie))'
    """
    how = TIE_LABELLING.get(loss_name, "?")
    if how == "?":
        from rewardlab.train.losses import LOSSES, GaussianLoss, SoftLabelLoss, TieLoss

        cls = LOSSES.get(loss_name)
        how = ("tie (log P(tie))" if cls is not None and issubclass(cls, TieLoss) else
               "soft label 0.5" if cls is not None and issubclass(cls, SoftLabelLoss | GaussianLoss) else None)
    if how is None:
        raise ConfigError(f"{{0}} ties needs a loss that takes tied or soft-labelled pairs; {{1}} {loss_name!r} "
                          "trains chosen over rejected whatever the label: use {1} soft, gaussian, rao_kupper or "
                          "davidson, or drop ties from {0}", "augment.kinds", "loss.name")
    return how
