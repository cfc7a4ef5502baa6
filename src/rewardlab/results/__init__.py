"""Typed results written and read as JSON by one function each (`rewardlab.results.base.write_result`,
`rewardlab.results.base.read_result`): metrics.json (`rewardlab.results.metrics.EvalMetrics`), audit.json
(`rewardlab.results.audit.AuditReport`), goodhart.json and optimize.json (`rewardlab.results.curves`),
comparison.json and data_stats.json (`rewardlab.results.compare`). Imports no torch, numpy or scipy."""

from rewardlab.results.base import FilesWritten, Result, read_result, write_result

__all__ = ["FilesWritten", "Result", "read_result", "write_result"]
