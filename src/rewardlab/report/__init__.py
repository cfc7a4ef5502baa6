"""rewardlab.report: the self-contained HTML report, composing the sections that eval, audit (and later stages)
write as files (metrics.json, audit.json, PNG plots). No stage imports it back."""

from rewardlab.report.compare import build_comparison, compare_folders
from rewardlab.report.page import build_report

__all__ = ["build_comparison", "build_report", "compare_folders"]
