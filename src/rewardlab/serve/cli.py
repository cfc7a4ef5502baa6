"""`rewardlab serve`: the command, registered by `rewardlab.cli` (its options come from ServeSpec).

Importing this module needs neither FastAPI nor uvicorn: they load when the command runs.
"""

from __future__ import annotations

from typing import Annotated

import typer

from rewardlab.cli_spec import FlagValues, spec_options
from rewardlab.serve.spec import ServeSpec

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


@spec_options("serving", ServeSpec)
def serve_command(
    model: Annotated[str, typer.Option("--model", "-m", help="Checkpoint folder or Hugging Face reward model "
                                       "(folder or hub id).")],
    log_level: Annotated[str, typer.Option("--log-level", help=f"Server log level: {', '.join(LOG_LEVELS)} "
                                           "(debug adds an access log).")] = "info",
    serving: FlagValues = None,  # type: ignore[assignment]  (generated from ServeSpec)
) -> None:
    """Serve a reward model over HTTP: batched across requests, bearer auth, Prometheus metrics.

    POST /v1/rewards (rewards, std, members, a pessimistic score), /get_reward (OpenRLHF), /classify (vLLM, as
    verl calls it), /score; GET /health, /ready, /info, /metrics.

    Binds 127.0.0.1 unless --host says otherwise; a non-loopback host needs --api-key (or REWARDLAB_API_KEY).
    SIGTERM finishes the requests in flight, then exits.
    """
    from rewardlab.errors import RewardlabError

    if log_level not in LOG_LEVELS:
        raise RewardlabError(f"--log-level must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
    spec = serving.build()
    from rewardlab.serve.server import run_server

    run_server(model, spec, log_level=log_level)


__all__ = ["serve_command"]
