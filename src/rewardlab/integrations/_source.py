"""Where an adapter's rewards come from: a server (URL) or a model in this process; shared by the adapters."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

from rewardlab.errors import RewardlabError

URL_ENV = "REWARDLAB_URL"
MODEL_ENV = "REWARDLAB_MODEL"
KEY_ENV = "REWARDLAB_API_KEY"
SELECT_ENV = "REWARDLAB_SELECT"
DEVICE_ENV = "REWARDLAB_DEVICE"

_lock = threading.Lock()
_clients: dict[tuple[str, str | None], Any] = {}
_models: dict[tuple[str, str], Any] = {}


def is_url(source: Any) -> bool:
    """Whether `source` names one or more servers ('http(s)://...', a comma-separated list, or a list of them)."""
    if isinstance(source, str):
        return source.strip().startswith(("http://", "https://"))
    return isinstance(source, list | tuple) and bool(source) and all(isinstance(s, str) and is_url(s) for s in source)


def shared_client(urls: str | Sequence[str], api_key: str | None = None, **kwargs: Any) -> Any:
    """One RewardClient per (urls, key) in this process (thread-safe), so per-sample calls reuse connections."""
    from rewardlab.scoring.client import RewardClient

    key = (urls if isinstance(urls, str) else ",".join(urls), api_key)
    with _lock:
        if key not in _clients:
            _clients[key] = RewardClient(urls, api_key, **kwargs)
        return _clients[key]


def shared_model_scorer(path: str, device: str | None = None) -> Any:
    """One ModelScorer (an EnsembleScorer for an ensemble folder) per (path, device) in this process (loaded on
    first use)."""
    from rewardlab.scoring.base import load_scorer

    key = (path, device or "auto")
    with _lock:
        if key not in _models:
            _models[key] = load_scorer(path, device=device or "auto")
        return _models[key]


def in_process_scorer(source: Any, device: str | None = None) -> Any:
    """A Scorer from a checkpoint path, a LoadedModel, a ModelScorer or any Scorer."""
    from rewardlab.models.checkpoint import LoadedModel
    from rewardlab.scoring.base import ModelScorer, Scorer

    if isinstance(source, str):
        return shared_model_scorer(source, device)
    if isinstance(source, LoadedModel):
        return ModelScorer(source, device=device)
    if isinstance(source, Scorer):
        return source
    raise RewardlabError(f"a reward source must be a server URL, a checkpoint path, a LoadedModel or a Scorer; got "
                         f"{type(source).__name__}")


def env_source() -> tuple[str, str]:
    """('url', urls) or ('model', path) from REWARDLAB_URL / REWARDLAB_MODEL.

    Raises:
        RewardlabError: neither is set.
    """
    url, model = os.environ.get(URL_ENV), os.environ.get(MODEL_ENV)
    if url:
        return "url", url
    if model:
        return "model", model
    raise RewardlabError(f"set {URL_ENV} (a rewardlab server, e.g. http://127.0.0.1:8600; several: comma-separated) "
                         f"or {MODEL_ENV} (a checkpoint folder, scored in this process)")
