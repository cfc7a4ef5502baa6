"""`rewardlab logs eval` and `rewardlab logs simulate`: registered by `rewardlab.cli` (options from the specs).

Importing this module loads neither numpy nor the estimators: they load when a command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rewardlab.cli_spec import FlagValues, spec_options
from rewardlab.logs.spec import LogsEvalSpec, LogsSimSpec

logs_app = typer.Typer(help="Evaluate candidate models from confounded logs, a small randomised experiment and "
                       "replays (ALGORITHMS.md section 5).", no_args_is_help=True)


@logs_app.command("eval")
@spec_options("settings", LogsEvalSpec, skip=("obs", "exp", "sim", "output"))
def logs_eval_command(
    obs: Annotated[str, typer.Option("--obs", help="Observational log: JSONL rows {model, reward, features} (which "
                                     "model answered is confounded).")],
    exp: Annotated[str, typer.Option("--exp", help="Randomised experiment: JSONL rows {model, reward, features, "
                                     "propensity} (propensity: the known probability of the model the row got).")],
    sim: Annotated[str, typer.Option("--sim", help="Replays: JSONL rows {context, model, features}, every "
                                     "candidate model on every cached context (no reward).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for logs_eval.json and logs_eval.png.")],
    report: Annotated[bool, typer.Option(help="Also write report.html.")] = True,
    settings: FlagValues = None,  # type: ignore[assignment]  (generated from LogsEvalSpec)
) -> Path | None:
    """Each model's value E[R | do(model)] and its difference to a baseline by five estimators, with CIs:
    difference in means on EXP, the naive OBS mean, direct plug-in over SIM, doubly robust, and an OBS-trained
    reward corrected on EXP. Writes logs_eval.json, logs_eval.png and report.html."""
    from rewardlab.logs.run import run_logs_eval

    spec = settings.build(obs=obs, exp=exp, sim=sim, output=str(output))
    res = run_logs_eval(spec)
    typer.echo("\n".join(res.lines()))
    typer.echo(f"wrote {spec.output}/logs_eval.json" + "".join(f", {spec.output}/{p}" for p in res.plots))
    # the logs stage does not import the report (report/ sits above the stages): `rewardlab.cli` registers
    # logs_app with a result callback that builds report.html in the folder returned here
    return output if report else None


@logs_app.command("simulate")
@spec_options("settings", LogsSimSpec, skip=("output",))
def logs_simulate_command(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for obs.jsonl, exp.jsonl, sim.jsonl and "
                                         "truth.json.")],
    settings: FlagValues = None,  # type: ignore[assignment]  (generated from LogsSimSpec)
) -> None:
    """Semi-synthetic confounded logs with known truth: obs.jsonl, exp.jsonl, sim.jsonl and truth.json (true
    values and the naive OBS mean's confounding term per model)."""
    from rewardlab.logs.run import simulate_logs

    spec = settings.build(output=str(output))
    res = simulate_logs(spec)
    typer.echo("true values: " + "  ".join(f"{m} {v:+.3f}" for m, v in res.value.items()))
    typer.echo("confounding term of the naive OBS mean: " + "  ".join(
        f"{m} {v:+.3f}" for m, v in res.confounding_term.items()))
    typer.echo(f"wrote {res.obs}, {res.exp}, {res.sim} and {res.truth}")


__all__ = ["logs_app"]
