"""`rewardlab export SRC DST --mean-only` as a stage: ExportSpec -> run_export -> FilesWritten.

Example:
    >>> ExportSpec(src="runs/rm", dst="runs/rm-hf").mean_only
    False
"""

from __future__ import annotations

from dataclasses import dataclass

from rewardlab.config import Spec, option
from rewardlab.results import FilesWritten


@dataclass
class ExportSpec(Spec):
    """Which checkpoint to export, where, and the acknowledgement that only the mean reward survives."""

    section_title = "export"

    src: str | None = option(None, help="rewardlab checkpoint (Gaussian or ensemble head).")
    dst: str | None = option(None, help="Folder for the plain Hugging Face model.")
    mean_only: bool = option(False, help="Keep the mean reward only (required).")

    def check(self) -> None:
        self.require("src", "dst")


def run_export(spec: ExportSpec) -> FilesWritten:
    """Write a plain HF sequence-classification model whose output is the checkpoint's mean reward.

    Args:
        spec: source checkpoint, destination folder and `mean_only`.
    Returns:
        FilesWritten: the folder written.
    Raises:
        RewardlabError: `mean_only` not set (a plain HF model carries one output), or a checkpoint no plain model
            reproduces (see `rewardlab.models.export_mean_only`).

    Example:
        >>> run_export(ExportSpec(src="runs/gauss", dst="runs/gauss-hf", mean_only=True)).files  # doctest: +SKIP
        ['runs/gauss-hf']
    """
    from rewardlab.errors import RewardlabError
    from rewardlab.models.checkpoint import export_mean_only

    if not spec.mean_only:
        raise RewardlabError("a plain HF model carries one output: pass --mean-only to export the mean reward")
    return FilesWritten([export_mean_only(spec.src, spec.dst)])  # type: ignore[arg-type]
