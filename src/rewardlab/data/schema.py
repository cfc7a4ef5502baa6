"""Record types of rewardlab: preference pairs, graded K-wise sets and battles between systems."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

Message = dict[str, str]
Text = str | list[Message]  # plain text, or a conversation as a list of {role, content} messages


def text_of(x: Text) -> str:
    """Plain text of a string or of a message list (contents joined), for lengths and features."""
    if isinstance(x, str):
        return x
    return "\n".join(m["content"] for m in x)


def _flat(id_: str | None, columns: dict[str, Any], optional: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """A record as a flat row, the same for every kind: `id` first when set, the kind's columns, each optional column
    that is set (not None), then the extra columns (which may overwrite any of them in place)."""
    d: dict[str, Any] = {} if id_ is None else {"id": id_}
    d.update(columns)
    d.update({k: v for k, v in optional.items() if v is not None})
    d.update(extra)
    return d


@dataclass
class PreferencePair:
    """One human (or simulated) preference: `chosen` is preferred to `rejected` for `prompt`.

    `label` is the soft label (share of annotators preferring `chosen`), `tie` marks a tie, `margin` a graded
    strength (Llama 2 style); `extra` keeps every other column (gold utilities from the simulator, ...).
    """

    prompt: Text
    chosen: Text
    rejected: Text
    margin: float | None = None
    label: float | None = None
    tie: bool = False
    category: str | None = None
    id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    kind: ClassVar[str] = "pairs"

    def responses_to_score(self) -> list[tuple[str, Text]]:
        """(role, response) of every response a scorer rates, in output order."""
        return [("chosen", self.chosen), ("rejected", self.rejected)]

    def to_dict(self) -> dict[str, Any]:
        """Flat explicit-prompt record; optional columns only when set, extra columns last."""
        return _flat(self.id, {"prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected},
                     {"margin": self.margin, "label": self.label, "tie": True if self.tie else None,
                      "category": self.category}, self.extra)


@dataclass
class KSampleSet:
    """K responses to one prompt, with graded scores (ratings, gold utility) when known, for best-of-K and ranking
    metrics. `scores` is None for fresh samples (`rewardlab generate`): best-of-N needs none, evaluation does."""

    prompt: Text
    responses: list[str]
    scores: list[float] | None = None
    correct: list[int] | None = None
    category: str | None = None
    id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    kind: ClassVar[str] = "ksample"

    def responses_to_score(self) -> list[tuple[str, Text]]:
        """(role, response) of every response a scorer rates, in output order."""
        return [(f"response_{j}", r) for j, r in enumerate(self.responses)]

    def to_dict(self) -> dict[str, Any]:
        """Flat record with optional columns only when set."""
        return _flat(self.id, {"prompt": self.prompt, "responses": self.responses},
                     {"scores": self.scores, "correct": self.correct, "category": self.category}, self.extra)


@dataclass
class Battle:
    """Two systems answer one prompt and a judge picks `model_a`, `model_b` or `tie` (Chatbot Arena style)."""

    prompt: Text
    model_a: str
    model_b: str
    response_a: str
    response_b: str
    winner: str
    category: str | None = None
    id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    kind: ClassVar[str] = "battles"

    def responses_to_score(self) -> list[tuple[str, Text]]:
        """(role, response) of every response a scorer rates, in output order."""
        return [("response_a", self.response_a), ("response_b", self.response_b)]

    def to_dict(self) -> dict[str, Any]:
        """Flat record with optional columns only when set."""
        return _flat(self.id, {"prompt": self.prompt, "model_a": self.model_a, "model_b": self.model_b,
                               "response_a": self.response_a, "response_b": self.response_b, "winner": self.winner},
                     {"category": self.category}, self.extra)


Record = PreferencePair | KSampleSet | Battle
