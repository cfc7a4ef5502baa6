"""HTML helpers shared by the report's sections (a leaf: the sections import it, it imports none of them)."""

from __future__ import annotations

import html
from typing import Any

from rewardlab.results.metrics import Estimate


def esc(x: Any) -> str:
    """HTML-escaped text of any value."""
    return html.escape(str(x))


def ci(d: Estimate | dict[str, Any] | None, digits: int = 3, pct: bool = False) -> str:
    """`estimate [lo, hi]` of an `Estimate` (or its dict) ('n/a' without an estimate; no brackets without bounds)."""
    if not d:
        return "n/a"
    return Estimate.coerce(d).text(digits, pct)
