"""What a served model is: a revision (which weights) and a render-spec hash (which text the weights see).

Clients log both with every reward, so a run's rewards can be traced to the exact model and formatting, and an
adapter can check that it renders like the server (`render_spec_hash` of its own RenderSpec and tokenizer).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

SAMPLES_PER_TENSOR = 256
_SNAPSHOT = re.compile(r"/snapshots/([0-9a-f]{40})(?:/|$)")


def render_spec_hash(spec: Any, tokenizer: Any = None) -> str:
    """A short hash of everything that decides the model's input text: the resolved RenderSpec, and the
    tokenizer's chat template, class and vocabulary size.

    Args:
        spec: a RenderSpec (its `to_dict()` is hashed, mode resolved as the checkpoint saved it).
        tokenizer: the reward model's tokenizer, or None.

    Returns:
        str: 16 hex digits.

    Example:
        >>> from rewardlab.render import RenderSpec
        >>> len(render_spec_hash(RenderSpec(mode="plain")))
        16
        >>> render_spec_hash(RenderSpec(mode="plain")) == render_spec_hash(RenderSpec(mode="plain", max_length=64))
        False
    """
    blob: dict[str, Any] = {"render": spec.to_dict()}
    if tokenizer is not None:
        blob["chat_template"] = getattr(tokenizer, "chat_template", None)
        blob["tokenizer"] = type(tokenizer).__name__
        blob["vocab"] = len(tokenizer)
    text = json.dumps(blob, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def model_revision(loaded: Any) -> str:
    """Which weights are served: the checkpoint's own `revision` when its metadata has one, the hub commit of a
    cached hub snapshot, else a fingerprint of the weights (256 evenly spaced values of every tensor, with the
    tensor names, shapes and dtypes), cheap on any device and different for any trained change.

    Args:
        loaded: a LoadedModel.

    Returns:
        str: e.g. 'hub:0123abcd4567' or 'weights:89ab...' (16 hex digits).
    """
    import torch

    meta = loaded.meta or {}
    if meta.get("revision"):
        return str(meta["revision"])
    for key in ("path", "base_model_path"):
        m = _SNAPSHOT.search(str(meta.get(key, "")))
        if m:
            return f"hub:{m.group(1)[:12]}"
    h = hashlib.sha256(json.dumps(loaded.model.head_spec.to_dict(), sort_keys=True).encode())
    with torch.no_grad():
        for name, t in sorted(loaded.model.state_dict().items()):
            h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
            flat = t.detach().reshape(-1)
            if flat.numel():
                idx = torch.linspace(0, flat.numel() - 1, min(flat.numel(), SAMPLES_PER_TENSOR)).long()
                h.update(flat[idx.to(flat.device)].float().cpu().numpy().tobytes())
    return f"weights:{h.hexdigest()[:16]}"


__all__ = ["model_revision", "render_spec_hash"]
