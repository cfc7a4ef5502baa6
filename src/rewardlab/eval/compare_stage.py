"""`rewardlab compare DIR_A DIR_B` as a stage: CompareRunsSpec -> run_compare -> CompareRunsResult (a paired
comparison of two evaluation folders). Importing this module loads no numpy, scipy or torch.

Example:
    >>> CompareRunsSpec(dir_a="runs/a/eval", dir_b="runs/b/eval").output is None
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rewardlab.config import Spec, option
from rewardlab.errors import RewardlabError
from rewardlab.results import write_result
from rewardlab.results.compare import RunComparison


@dataclass
class CompareRunsSpec(Spec):
    """Two evaluation folders of the same pairs, and where the comparison goes."""

    section_title = "compare"

    dir_a: str | None = option(None, help="First evaluation folder.")
    dir_b: str | None = option(None, help="Second evaluation folder.")
    output: str | None = option(None, flag="--output", aliases=("-o",), help="Write the comparison as JSON.")

    def check(self) -> None:
        self.require("dir_a", "dir_b")


@dataclass
class CompareRunsResult:
    """The comparison (typed: `rewardlab.results.compare.RunComparison`) and the files written."""

    comparison: RunComparison
    files: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return self.comparison.lines()


def run_compare(spec: CompareRunsSpec) -> CompareRunsResult:
    """Paired comparison of two reward models on the same pairs: accuracy difference, CI and p-value.

    Args:
        spec: the two folders and the optional JSON output.
    Returns:
        CompareRunsResult: the comparison and the file written.
    Raises:
        RewardlabError: a folder without metrics.json, or no shared pair dataset.

    Example:
        >>> run_compare(CompareRunsSpec(dir_a="runs/a/eval", dir_b="runs/b/eval")).lines()  # doctest: +SKIP
    """
    from rewardlab.eval.evaluate import compare_runs

    for d in (spec.dir_a, spec.dir_b):
        if not (Path(d) / "metrics.json").exists():  # type: ignore[arg-type]
            raise RewardlabError(f"{d}: no metrics.json (run `rewardlab eval` first)")
    res = RunComparison.from_dict(compare_runs(str(spec.dir_a), str(spec.dir_b)))
    files = []
    if spec.output:
        write_result(spec.output, res)
        files.append(spec.output)
    return CompareRunsResult(res, files)
