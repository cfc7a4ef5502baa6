"""rewardlab.logs: evaluating candidate models from confounded logs, a small randomised experiment and replays
(ALGORITHMS.md section 5): input files, estimators with CIs, a semi-synthetic generator with known truth, the
`rewardlab logs` commands. The spec module is light (no numpy); the rest loads when used."""

from rewardlab.logs.spec import LogsEvalSpec, LogsSimSpec

__all__ = ["LogsEvalSpec", "LogsSimSpec"]
