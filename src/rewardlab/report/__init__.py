"""rewardlab.report: the self-contained HTML report, composing the sections that eval, audit (and later stages)
write as files (metrics.json, audit.json, PNG plots). No stage imports it back. Names are imported on first use, so
`rewardlab.report.stage` (the report command's spec) loads no numpy."""

from rewardlab._entry import lazy_package

__all__, __getattr__, __dir__ = lazy_package(__name__, {
    "rewardlab.report.compare": ("build_comparison", "compare_folders"),
    "rewardlab.report.page": ("build_report",),
})
