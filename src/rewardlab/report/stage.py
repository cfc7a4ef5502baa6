"""`rewardlab report` as a stage: ReportSpec -> run_report -> FilesWritten (one folder's report.html, or several
models side by side in comparison.html). Importing this module loads no numpy, scipy or torch.

Example:
    >>> ReportSpec(folders=["bt=runs/bt/eval,runs/bt/audit", "runs/odin/eval"], output="cmp").models()
    {'bt': 'runs/bt/eval,runs/bt/audit', 'eval': 'runs/odin/eval'}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rewardlab.config import ConfigError, Spec, option
from rewardlab.errors import RewardlabError
from rewardlab.results import FilesWritten


@dataclass
class ReportSpec(Spec):
    """What to report: one evaluation/audit folder, or several models as NAME=FOLDER[,FOLDER] or FOLDER."""

    section_title = "report"

    folders: list[str] = option(default_factory=list, help=(
        "An evaluation (and/or audit) folder; or several models, as NAME=FOLDER[,FOLDER] (e.g. "
        "bt=runs/bt/eval,runs/bt/audit) or FOLDER, for a side-by-side comparison whose first model is the "
        "baseline."))
    title: str | None = option(None, help="Page title.")
    output: str | None = option(None, flag="--output", aliases=("-o",), help=(
        "Several folders: where comparison.html and comparison.json go (required)."))

    def check(self) -> None:
        if not self.folders:
            raise ConfigError("{0}: give at least one folder", "folders")
        if len(self.folders) > 1 and self.output is None:
            raise ConfigError("several folders make a comparison: give {0} for comparison.html", "output")

    def models(self) -> dict[str, str]:
        """{model name: its folder(s)}: NAME=FOLDER as given, a bare FOLDER named after its last part.

        Raises:
            RewardlabError: two models with one name.
        """
        models: dict[str, str] = {}
        for f in self.folders:
            name, _, path = f.partition("=") if "=" in f else (Path(f.split(",")[0]).name, "", f)
            if name in models:
                raise RewardlabError(f"two models are named {name!r}: name them NAME=FOLDER")
            models[name] = path
        return models


def run_report(spec: ReportSpec) -> FilesWritten:
    """Build report.html from one folder, or comparison.html and comparison.json from several.

    Args:
        spec: the folders, the title and (several folders) the output folder.
    Returns:
        FilesWritten: the files written.
    Raises:
        RewardlabError: two models with one name; a folder without results.

    Example:
        >>> run_report(ReportSpec(folders=["runs/demo/eval"])).files  # doctest: +SKIP
        ['runs/demo/eval/report.html']
    """
    from rewardlab.report.compare import build_comparison
    from rewardlab.report.page import build_report

    if len(spec.folders) == 1:
        return FilesWritten([str(build_report(Path(spec.folders[0].split("=", 1)[-1].split(",")[0]), spec.title))])
    page = build_comparison(spec.models(), spec.output, spec.title)  # type: ignore[arg-type]
    return FilesWritten([str(page), str(page.with_suffix(".json"))])
