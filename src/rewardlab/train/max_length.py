"""`--max-length auto`: the sequence length set from the training pairs, and the note on heavy truncation.

A pair is kept whole when both its chosen and its rejected sequence fit, so a pair's length is the longer of its
two rendered sequences (special tokens included, exactly as `Renderer.encode` builds them). `auto` takes the
smallest length that keeps 95% of the training pairs whole, rounded up to a multiple of 8 and capped by the
backbone's position embeddings. Whatever the value in force, training logs a note when more than 10% of the
training pairs are truncated, naming the length that keeps 95% of them whole.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from rewardlab.data.schema import PreferencePair
from rewardlab.render import Renderer, RenderSpec

logger = logging.getLogger(__name__)

KEEP_WHOLE = 0.95  # auto keeps this share of the training pairs whole
NOTE_ABOVE = 0.10  # a note when more than this share of the training pairs is truncated
MULTIPLE = 8  # auto rounds up to a multiple of this (padding-friendly shapes)
UNLIMITED = 1 << 30


@dataclass
class LengthReport:
    """How long the training pairs are, and what a max_length does to them.

    Attributes:
        requested: the max_length asked for (a number or 'auto').
        resolved: the number of tokens in force.
        keeps_95: the smallest length that keeps 95% of the training pairs whole (before rounding and cap).
        suggested: `keeps_95` rounded up to a multiple of 8 and capped (what auto takes).
        cap: the backbone's position embeddings (None when it has no such limit).
        n_pairs: training pairs measured.
        share_truncated: share of training pairs longer than `resolved`.
        longest: the longest training pair, in tokens.
    """

    requested: int | str
    resolved: int
    keeps_95: int
    suggested: int
    cap: int | None
    n_pairs: int
    share_truncated: float
    longest: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def note(self) -> str | None:
        """The log line when more than 10% of the training pairs are truncated at the value in force, else None."""
        if self.share_truncated <= NOTE_ABOVE:
            return None
        fix = (f"--max-length {self.suggested} keeps 95% whole" if self.suggested > self.resolved else
               f"keeping 95% whole needs {self.keeps_95} tokens, beyond the backbone's {self.cap} positions")
        return (f"{self.share_truncated:.1%} of the {self.n_pairs} training pairs are longer than max_length="
                f"{self.resolved} tokens and will be truncated; {fix} (longest pair: {self.longest} tokens)")


def pair_token_lengths(tokenizer: Any, spec: RenderSpec, pairs: Sequence[PreferencePair]) -> np.ndarray:
    """The rendered length in tokens of each pair (the longer of chosen and rejected), never truncated.

    Args:
        tokenizer: the backbone's tokenizer.
        spec: the render spec (its max_length is ignored here).
        pairs: preference pairs.
    Returns:
        An int array [len(pairs)].
    """
    if not pairs:
        return np.zeros(0, dtype=np.int64)
    renderer = Renderer(tokenizer, dataclasses.replace(spec, max_length=UNLIMITED))
    prompts = [p.prompt for p in pairs]
    chosen = renderer.encode(prompts, [p.chosen for p in pairs])
    rejected = renderer.encode(prompts, [p.rejected for p in pairs])
    return np.array([max(len(c["input_ids"]), len(r["input_ids"])) for c, r in zip(chosen, rejected, strict=True)],
                    dtype=np.int64)


def length_keeping(lengths: np.ndarray, share: float = KEEP_WHOLE) -> int:
    """The smallest L with at least `share` of `lengths` <= L (0 for no lengths)."""
    if len(lengths) == 0:
        return 0
    k = max(1, math.ceil(share * len(lengths) - 1e-9))
    return int(np.sort(lengths)[k - 1])


def length_report(lengths: np.ndarray, requested: int | str, cap: int | None, floor: int = 8) -> LengthReport:
    """What `requested` (a number or 'auto') resolves to on these pair lengths, and how many pairs it truncates.

    Args:
        lengths: pair lengths in tokens (`pair_token_lengths`).
        requested: the max_length asked for.
        cap: the backbone's position limit (None: none); a number above it is lowered to it.
        floor: the least usable length (the renderer's special tokens plus room for text).
    Returns:
        LengthReport.
    """
    keeps = length_keeping(lengths)
    suggested = max(floor, MULTIPLE * math.ceil(keeps / MULTIPLE))
    if cap:
        suggested = min(suggested, int(cap))
    resolved = suggested if requested == "auto" else int(requested)
    if cap:
        resolved = min(resolved, int(cap))
    share = float(np.mean(lengths > resolved)) if len(lengths) else 0.0
    return LengthReport(requested, resolved, keeps, suggested, int(cap) if cap else None, int(len(lengths)), share,
                        int(lengths.max()) if len(lengths) else 0)


def position_limit(path: str) -> int | None:
    """The backbone's max_position_embeddings (None when its config has none or cannot be read)."""
    from transformers import AutoConfig

    try:
        cfg = AutoConfig.from_pretrained(path)
    except Exception:  # the model load that follows reports a bad path clearly
        return None
    n = getattr(cfg, "max_position_embeddings", None)
    return int(n) if n else None


def resolve_max_length(backbone: str | None, spec: RenderSpec, pairs: Sequence[PreferencePair]
                       ) -> tuple[RenderSpec, LengthReport]:
    """A copy of `spec` with `max_length: auto` replaced by the length that keeps 95% of `pairs` whole.

    Args:
        backbone: the backbone alias, folder or hub id (its tokenizer and position limit are used).
        spec: the render spec, max_length 'auto'.
        pairs: the training pairs.
    Returns:
        (the resolved spec, the LengthReport).

    Example:
        >>> from rewardlab.data.schema import PreferencePair
        >>> pairs = [PreferencePair("Say hi", "hi " * n, "no") for n in range(1, 101)]
        >>> spec, rep = resolve_max_length("minilm", RenderSpec(max_length="auto"), pairs)
        >>> rep.keeps_95, spec.max_length
        (100, 104)
    """
    from rewardlab.models.backbone import load_tokenizer, resolve_model_path

    path = resolve_model_path(backbone)
    tok = load_tokenizer(path)
    lengths = pair_token_lengths(tok, spec, pairs)
    floor = Renderer(tok, dataclasses.replace(spec, max_length=UNLIMITED)).n_special + 3
    report = length_report(lengths, spec.max_length, position_limit(path), floor=floor)
    resolved = dataclasses.replace(spec, max_length=report.resolved)
    logger.info(f"--max-length auto: {report.resolved} tokens (95% of the {report.n_pairs} training pairs fit in "
                f"{report.keeps_95}; longest {report.longest})")
    return resolved, report
