"""Ensembles of whole reward models: members that differ in what they can see (backbone, depth, LoRA or full
fine-tuning, seed, data order), saved as one folder that every consumer loads as one Scorer.

An ensemble folder holds `rewardlab.json` with `"format": "rewardlab-ensemble"` and one ordinary checkpoint per
member under `members/`. Each member's rewards are put on a common scale (minus its mean, divided by its standard
deviation, both measured on its training responses when it was built) so that the worst member (`min`) and the
spread (`lcb`, `uwo`, the std) compare like with like; the ensemble's reward is the mean of the scaled members,
its std their population standard deviation (the convention of the ensemble head).

`rewardlab train-ensemble` builds such a folder; `load_scorer` (and so `get_scorer`, `rewardlab score`, `eval`,
`bon`, `goodhart`, `optimize`, the server and the TRL / verl / OpenRLHF adapters) loads it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rewardlab.data.schema import Text
from rewardlab.errors import RewardlabError
from rewardlab.scoring.output import RewardOutput

ENSEMBLE_FORMAT = "rewardlab-ensemble"
MANIFEST = "rewardlab.json"


def read_manifest(path: str | os.PathLike) -> dict[str, Any] | None:
    """The manifest of an ensemble folder, or None when `path` is not one (any other folder, alias or hub id)."""
    f = Path(path) / MANIFEST
    if not f.is_file():
        return None
    try:
        meta = json.loads(f.read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("format") == ENSEMBLE_FORMAT else None


def is_ensemble_folder(path: str | os.PathLike) -> bool:
    """Whether `path` is a folder written by `rewardlab train-ensemble`."""
    return read_manifest(path) is not None


class EnsembleScorer:
    """Several Scorers as one: rewards scaled per member, averaged; std and members reported.

    Args:
        members: the member Scorers (ModelScorers for a saved ensemble; any Scorer works).
        scales: (offset, scale) per member: the member's reward r becomes (r - offset) / scale. None: (0, 1).
        labels: a name per member (default m0, m1, ...).
        name: the ensemble's name in reports.

    Raises:
        RewardlabError: fewer than two members, or scales/labels of another length, or a scale that is not > 0.

    Example:
        >>> from rewardlab.scoring import CallableScorer
        >>> a = CallableScorer(lambda prompt, response: len(response), name="len")
        >>> b = CallableScorer(lambda prompt, response: -len(response), name="neg")
        >>> out = EnsembleScorer([a, b]).score(["q", "q"], ["a", "abc"], progress=False)
        >>> out.mean.tolist(), out.std.tolist(), out.members.tolist()
        ([0.0, 0.0], [1.0, 3.0], [[1.0, -1.0], [3.0, -3.0]])
    """

    def __init__(self, members: Sequence[Any], scales: Sequence[tuple[float, float]] | None = None,
                 labels: Sequence[str] | None = None, name: str = "ensemble"):
        if len(members) < 2:
            raise RewardlabError(f"an ensemble needs at least two members, got {len(members)}")
        scales = list(scales) if scales is not None else [(0.0, 1.0)] * len(members)
        labels = list(labels) if labels is not None else [f"m{i}" for i in range(len(members))]
        if len(scales) != len(members) or len(labels) != len(members):
            raise RewardlabError(f"{len(members)} members but {len(scales)} scales and {len(labels)} labels")
        for lab, (_, s) in zip(labels, scales, strict=True):
            if not (np.isfinite(s) and s > 0):
                raise RewardlabError(f"member {lab}: its reward scale must be a positive number, got {s}")
        self.members = list(members)
        self.scales = [(float(a), float(b)) for a, b in scales]
        self.labels = labels
        self.name = name
        self.meta: dict[str, Any] = {}

    @classmethod
    def from_path(cls, path: str | os.PathLike, member_loader: Callable[..., Any], device: Any = "auto",
                  **kwargs: Any) -> EnsembleScorer:
        """Load an ensemble folder: each member by `member_loader(folder, device=device, **kwargs)` (in
        rewardlab, `ModelScorer.from_path`; `rewardlab.scoring.load_scorer` passes it).

        Raises:
            RewardlabError: `path` is not an ensemble folder, or a member folder is missing or unloadable (named).
        """
        meta = read_manifest(path)
        if meta is None:
            raise RewardlabError(f"{path}: not an ensemble folder (no {MANIFEST} with format {ENSEMBLE_FORMAT!r})")
        members, scales, labels = [], [], []
        for i, m in enumerate(meta.get("members") or []):
            sub = Path(path) / str(m.get("path", ""))
            if not sub.is_dir():
                raise RewardlabError(f"{path}: member {i} ({m.get('label', '?')}) is missing: no folder {sub}")
            try:
                members.append(member_loader(str(sub), device=device, **kwargs))
            except RewardlabError as e:
                raise RewardlabError(f"{path}: member {i} ({m.get('label', '?')}): {e}") from None
            sc = m.get("scale") or {}
            scales.append((float(sc.get("offset", 0.0)), float(sc.get("scale", 1.0))))
            labels.append(str(m.get("label", f"m{i}")))
        if len(members) < 2:
            raise RewardlabError(f"{path}: an ensemble folder needs at least two members, its manifest lists "
                                 f"{len(members)}")
        ens = cls(members, scales, labels, name=str(path))
        ens.meta = meta
        return ens

    @property
    def head(self) -> dict[str, Any]:
        """What the server reports as the model's head: an ensemble of len(members) members with a std."""
        return {"head": "ensemble", "n_members": len(self.members), "member_gaussian": False,
                "pooling": "per member", "members": self.labels}

    def score(self, prompts: Sequence[Text], responses: Sequence[Text], progress: bool = True) -> RewardOutput:
        """Each member scores every item; the scaled member rewards give mean, std and members [N, K].

        Raises:
            RewardlabError: prompts and responses differ in length, or a member returns another number of rewards.
        """
        if len(prompts) != len(responses):
            raise RewardlabError(f"{len(prompts)} prompts but {len(responses)} responses")
        cols = [member_column(m.score(prompts, responses, progress=progress), len(prompts), lab)
                for m, lab in zip(self.members, self.labels, strict=True)]
        return self.combine(cols)

    def combine(self, columns: Sequence[np.ndarray]) -> RewardOutput:
        """The ensemble's output from each member's raw rewards (scaled here)."""
        return combine_members(columns, self.scales)


def combine_members(columns: Sequence[np.ndarray], scales: Sequence[tuple[float, float]]) -> RewardOutput:
    """mean, population std and members [N, K] of K members' raw rewards, each scaled by its (offset, scale)."""
    if not len(columns) or not len(columns[0]):
        return RewardOutput(np.zeros(0), np.zeros(0), np.zeros((0, len(scales))))
    m = np.stack([(np.asarray(c, dtype=float) - a) / s for c, (a, s) in zip(columns, scales, strict=True)], axis=1)
    return RewardOutput(m.mean(axis=1), m.std(axis=1), m)


def member_column(out: RewardOutput, n: int, label: str) -> np.ndarray:
    """A member's N mean rewards, checked for length."""
    if len(out) != n:
        raise RewardlabError(f"ensemble member {label} returned {len(out)} rewards for {n} items")
    return np.asarray(out.mean, dtype=float)
