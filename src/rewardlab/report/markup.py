"""HTML helpers shared by the report's sections (a leaf: the sections import it, it imports none of them)."""

from __future__ import annotations

import html
from typing import Any


def esc(x: Any) -> str:
    """HTML-escaped text of any value."""
    return html.escape(str(x))


def ci(d: dict[str, Any] | None, digits: int = 3, pct: bool = False) -> str:
    """`estimate [lo, hi]` of a {estimate, lo, hi} dict ('n/a' without an estimate; no brackets without bounds)."""
    if not d or d.get("estimate") is None:
        return "n/a"

    def f(x: float) -> str:
        return f"{x:.0%}" if pct else f"{x:.{digits}f}"

    if d.get("lo") is None or d.get("hi") is None:
        return f(d["estimate"])
    return f"{f(d['estimate'])} [{f(d['lo'])}, {f(d['hi'])}]"
