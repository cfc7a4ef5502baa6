"""Serving reward models over HTTP: the server (FastAPI + uvicorn, batched across requests), its clients, and
the `rewardlab serve` command.

    from rewardlab.serve import ServeSpec, create_app, run_server, BackgroundServer, RewardClient, AsyncRewardClient

Names are imported on first use, so `import rewardlab.serve` needs neither FastAPI nor httpx (the `serve` extra
brings them: `pip install 'rewardlab[serve]'`).
"""

from __future__ import annotations

from typing import Any

from rewardlab._entry import lazy_attributes

_LAZY = {
    "ServeSpec": ("rewardlab.serve.spec", "ServeSpec"),
    "check_bind": ("rewardlab.serve.spec", "check_bind"),
    "create_app": ("rewardlab.serve.app", "create_app"),
    "run_server": ("rewardlab.serve.server", "run_server"),
    "BackgroundServer": ("rewardlab.serve.server", "BackgroundServer"),
    "RewardClient": ("rewardlab.scoring.client", "RewardClient"),
    "AsyncRewardClient": ("rewardlab.scoring.client", "AsyncRewardClient"),
    "ItemScorer": ("rewardlab.serve.engine", "ItemScorer"),
    "Item": ("rewardlab.serve.engine", "Item"),
    "model_revision": ("rewardlab.serve.identity", "model_revision"),
    "render_spec_hash": ("rewardlab.serve.identity", "render_spec_hash"),
}

__all__ = list(_LAZY)

_lazy = lazy_attributes(__name__, _LAZY)


def __getattr__(name: str) -> Any:
    return _lazy(name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
