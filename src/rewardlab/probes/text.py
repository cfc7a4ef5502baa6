"""Sentences of a response: the unit the probes edit and the audit's features count."""

from __future__ import annotations

import re

_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+(?=\S)")
_LINE_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)]|#{1,6})\s+")


def sentences(text: str) -> list[str]:
    """Sentences of a response: lines split at line breaks, then at '.', '!' or '?' followed by whitespace.

    Markdown list and header markers are kept in the returned text; lines without a word character are dropped.
    """
    out: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        m = _LINE_MARK.match(line)
        marker = m.group(0) if m else ""  # "1. " starts a list item, it does not end a sentence
        parts = [s for s in _SENT_SPLIT.split(line[len(marker):]) if re.search(r"\w", s)]
        out += [(marker if i == 0 else "") + s.strip() for i, s in enumerate(parts)]
    return out
