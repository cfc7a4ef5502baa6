"""Serving reward models over HTTP: the server (FastAPI + uvicorn, batched across requests), its clients, and
the `rewardlab serve` command.

    from rewardlab.serve import ServeSpec, create_app, run_server, BackgroundServer, RewardClient, AsyncRewardClient

Names are imported on first use, so `import rewardlab.serve` needs neither FastAPI nor httpx (the `serve` extra
brings them: `pip install 'rewardlab[serve]'`).
"""

from __future__ import annotations

from rewardlab._entry import lazy_package

__all__, __getattr__, __dir__ = lazy_package(__name__, {
    "rewardlab.serve.spec": ("ServeSpec", "check_bind"),
    "rewardlab.serve.app": ("create_app",),
    "rewardlab.serve.server": ("run_server", "BackgroundServer"),
    "rewardlab.scoring.client": ("RewardClient", "AsyncRewardClient"),
    "rewardlab.serve.engine": ("ItemScorer", "Item"),
    "rewardlab.serve.identity": ("model_revision", "render_spec_hash"),
})
