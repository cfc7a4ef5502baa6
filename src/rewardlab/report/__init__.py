"""rewardlab.report: the self-contained HTML report, composing the sections that eval, audit (and later stages)
write as files (metrics.json, audit.json, PNG plots). No stage imports it back. Names are imported on first use, so
`rewardlab.report.stage` (the report command's spec) loads no numpy."""

from rewardlab._entry import lazy_attributes

_LAZY = {"build_comparison": ("rewardlab.report.compare", "build_comparison"),
         "compare_folders": ("rewardlab.report.compare", "compare_folders"),
         "build_report": ("rewardlab.report.page", "build_report")}
__all__ = sorted(_LAZY)
__getattr__ = lazy_attributes(__name__, _LAZY)
