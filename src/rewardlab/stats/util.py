"""Small private helpers shared by the eval modules (JSON cleaning, array checks)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rewardlab.errors import RewardlabError


def jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays to Python types and non-finite floats to None, recursively."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return [jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return x if math.isfinite(x) else None
    return obj


def ci_dict(estimate: float, lo: float, hi: float, confidence: float) -> dict[str, Any]:
    """A point estimate with its percentile-bootstrap interval as a plain dict."""
    return jsonable({"estimate": estimate, "lo": lo, "hi": hi, "confidence": confidence})


def as_1d(x: Any, name: str, dtype: Any = float) -> np.ndarray:
    """Validate and return a 1-D numpy array."""
    a = np.asarray(x, dtype=dtype)
    if a.ndim != 1:
        raise RewardlabError(f"{name} must be 1-D, got shape {a.shape}")
    return a


def same_length(**arrays: Sequence[Any] | np.ndarray | None) -> int:
    """Check that all given (non-None) arrays have the same length and return it."""
    lengths = {k: len(v) for k, v in arrays.items() if v is not None}
    if len(set(lengths.values())) > 1:
        raise RewardlabError(f"length mismatch: {lengths}")
    return next(iter(lengths.values())) if lengths else 0
