"""Run any stage from Python with the spec its command builds: `rewardlab.run(spec)` is `rewardlab <command>`
without the printing. The command table (`rewardlab.cli.COMMANDS`) pairs each spec class with its run function, so
Python callers and the command line go through the same rows and the same validated specs.

Example:
    >>> import rewardlab
    >>> from rewardlab.simulate.spec import SimulateSpec
    >>> stage_of(SimulateSpec)
    'data simulate'
    >>> res = rewardlab.run(SimulateSpec(output="pairs.jsonl", n=10))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from rewardlab.errors import RewardlabError


def _row(spec_type: type) -> Any:
    from rewardlab.cli import COMMANDS

    for row in COMMANDS:
        if row.spec is spec_type:
            return row
    known = ", ".join(f"{r.spec.__name__} ({r.name})" for r in COMMANDS)
    raise RewardlabError(f"no stage takes a {spec_type.__name__}; the stage specs are: {known}")


def stage_of(spec_type: type) -> str:
    """The command whose spec is `spec_type` (e.g. "eval" for EvalSpec).

    Raises:
        RewardlabError: no command takes that spec (the message lists the specs that are).
    """
    return _row(spec_type).name


def run(spec: Any) -> Any:
    """Run the stage that `spec` describes and return its typed result, as `rewardlab <command>` does.

    Args:
        spec: a validated stage spec: TrainConfig, EvalSpec, ScoreSpec, AuditSpec, BonSpec, GoodhartSpec,
            OptimizeSpec, SimulateSpec, DemoSpec, ... (any spec of `rewardlab.cli.COMMANDS`).

    Returns:
        The stage's result (e.g. `TrainResult`, `EvalResult`, `OptimizeResult`); most have `lines()` (what the
        command prints) and `files`.

    Raises:
        RewardlabError: `spec` is no stage's spec, or what the stage raises.

    Example:
        >>> import rewardlab
        >>> from rewardlab.eval.eval_stage import EvalSpec
        >>> res = rewardlab.run(EvalSpec.from_options(model="runs/rm", output="runs/rm/eval"))  # doctest: +SKIP
        >>> rewardlab.run(3)
        Traceback (most recent call last):
        rewardlab.errors.RewardlabError: no stage takes a int; the stage specs are: ...
    """
    from rewardlab.cli_spec import resolve

    return resolve(_row(type(spec)).run)(spec)
