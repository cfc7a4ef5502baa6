"""Format detection and record parsing: raw rows -> validated PreferencePair / KSampleSet / Battle.

Every problem becomes an `Issue(source, line, field, reason)`; parsing never raises a library exception.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from rewardlab.data.schema import Battle, KSampleSet, PreferencePair, Text
from rewardlab.errors import Issue, RewardlabError
from rewardlab.kinds import KindHooks, get_kind, kind_names

PROMPT_ALIASES = ("prompt", "question", "instruction", "query", "input")
CHOSEN_ALIASES = ("chosen", "response_chosen", "chosen_response")
REJECTED_ALIASES = ("rejected", "response_rejected", "rejected_response")
HH_ASSISTANT = "\n\nAssistant:"
WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
PAIR_COLUMNS = ("id", "margin", "label", "tie", "category")
#: Columns naming who made the judgement of a row (one row per judgement; the first one present is used).
ANNOTATOR_KEYS = ("annotator", "rater", "judge", "worker")
#: Column of per-annotator labels on one record: a list (annotator j at position j) or {annotator: vote}; each vote
#: is 1 (pairs: chosen preferred; battles: model_a), 0 (rejected; model_b), 0.5 (a tie) or null (no judgement).
VOTES_KEY = "votes"
VOTE_VALUES = (0.0, 0.5, 1.0)


class RecordError(Exception):
    """Internal: one field of one record is invalid (turned into an Issue by the caller)."""

    def __init__(self, field: str, reason: str):
        super().__init__(reason)
        self.field = field
        self.reason = reason


@dataclass
class FormatSpec:
    """How to read rows: the record kind and, for pairs, which columns hold prompt / chosen / rejected."""

    kind: str = "pairs"  # pairs | ksample | battles
    prompt_key: str | None = None  # None: implicit prompt (shared prefix of chosen and rejected)
    chosen_key: str = "chosen"
    rejected_key: str = "rejected"

    @property
    def explicit(self) -> bool:
        return self.prompt_key is not None


def detect_spec(
    row: dict[str, Any],
    layout: str | None = None,
    prompt_key: str | None = None,
    chosen_key: str | None = None,
    rejected_key: str | None = None,
) -> FormatSpec:
    """Infer the record kind and key names from one row's columns; explicit arguments always win.

    `layout` is explicit, implicit, pairs, ksample or battles (None: detect)."""
    keys = set(row)
    implicit, explicit = layout == "implicit", layout == "explicit"
    kind = layout
    if kind in ("explicit", "implicit"):
        kind = "pairs"
    if kind is None:
        if "responses" in keys:
            kind = "ksample"
        elif {"response_a", "response_b", "winner"} <= keys:
            kind = "battles"
        else:
            kind = "pairs"
    if kind not in kind_names():
        raise RewardlabError(f"unknown data layout {kind!r}; use explicit, implicit, {', '.join(kind_names())}")
    if kind != "pairs":
        return FormatSpec(kind=kind, prompt_key=prompt_key or "prompt")
    ck = chosen_key or next((k for k in CHOSEN_ALIASES if k in keys), None)
    rk = rejected_key or next((k for k in REJECTED_ALIASES if k in keys), None)
    if ck is None and rk is None and not keys & {"chosen", "rejected"}:
        raise RewardlabError(
            f"cannot find chosen/rejected columns among {sorted(keys)}; pass --chosen-key and --rejected-key"
        )
    # one of the two missing in the first row: keep the standard names and let validation name the field
    ck, rk = ck or "chosen", rk or "rejected"
    pk = None if implicit else prompt_key or next((k for k in PROMPT_ALIASES if k in keys), None)
    if explicit and pk is None:
        pk = "prompt"  # an explicit layout without a prompt column: every record reports "prompt: missing"
    return FormatSpec(kind="pairs", prompt_key=pk, chosen_key=ck, rejected_key=rk)


# ---------------------------------------------------------------- field checks


def _text(row: dict[str, Any], key: str, field: str | None = None, allow_empty: bool = False) -> Text:
    """A text or message-list field. Responses may be empty (an empty reply is a real outcome in dialogue data,
    e.g. 4 HH pairs; `data stats` counts them); prompts and other texts may not."""
    field = field or key
    if key not in row or row[key] is None:
        raise RecordError(field, "missing")
    v = row[key]
    if isinstance(v, str):
        if not v.strip() and not allow_empty:
            raise RecordError(field, "empty text")
        return v
    if isinstance(v, list):
        return _messages(v, field)
    raise RecordError(field, f"wrong type: expected text or a list of messages, got {type(v).__name__}")


def _messages(v: list[Any], field: str) -> list[dict[str, str]]:
    if not v:
        raise RecordError(field, "empty message list")
    out = []
    for j, m in enumerate(v):
        if not isinstance(m, dict):
            raise RecordError(f"{field}[{j}]", f"wrong type: expected a {{role, content}} message, got {type(m).__name__}")
        role, content = m.get("role"), m.get("content")
        if not isinstance(role, str) or not role:
            raise RecordError(f"{field}[{j}].role", "missing" if role is None else "wrong type: expected text")
        if not isinstance(content, str):
            raise RecordError(f"{field}[{j}].content", "missing" if content is None else "wrong type: expected text")
        out.append({"role": role, "content": content})
    return out


def _number(row: dict[str, Any], key: str, lo: float | None = None, hi: float | None = None) -> float | None:
    v = row.get(key)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise RecordError(key, f"wrong type: expected a number, got {type(v).__name__} {v!r:.40}")
    x = float(v)
    if not math.isfinite(x):
        raise RecordError(key, f"not a finite number: {v}")
    if (lo is not None and x < lo) or (hi is not None and x > hi):
        raise RecordError(key, f"out of range [{lo}, {hi}]: {v}")
    return x


def _bool(row: dict[str, Any], key: str) -> bool:
    v = row.get(key)
    if v is None:
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float) and v in (0, 1):
        return bool(v)
    raise RecordError(key, f"wrong type: expected true/false, got {v!r:.40}")


def _opt_str(row: dict[str, Any], key: str) -> str | None:
    v = row.get(key)
    if v is None:
        return None
    if isinstance(v, int) and not isinstance(v, bool) and key == "id":
        return str(v)
    if not isinstance(v, str):
        raise RecordError(key, f"wrong type: expected text, got {type(v).__name__}")
    return v


def _str(row: dict[str, Any], key: str) -> str:
    v = row.get(key)
    if v is None:
        raise RecordError(key, "missing")
    if not isinstance(v, str):
        raise RecordError(key, f"wrong type: expected text, got {type(v).__name__}")
    if not v.strip():
        raise RecordError(key, "empty text")
    return v


def annotator_key(row: dict[str, Any]) -> str | None:
    """The annotator column of a row (the first of ANNOTATOR_KEYS present and not null), or None."""
    return next((k for k in ANNOTATOR_KEYS if row.get(k) is not None), None)


def _annotator(row: dict[str, Any]) -> None:
    """Check the annotator column: a non-empty name or a number."""
    key = annotator_key(row)
    if key is None:
        return
    v = row[key]
    if isinstance(v, bool) or not isinstance(v, str | int):
        raise RecordError(key, f"wrong type: expected the annotator's name or number, got {type(v).__name__}")
    if isinstance(v, str) and not v.strip():
        raise RecordError(key, "empty text")


def parse_votes(v: Any) -> dict[str, float | None] | None:
    """The `votes` column as {annotator: vote or None} (a list names its annotators #1, #2, ...).

    Raises:
        RecordError: not a list or object, no vote, or a vote other than 1, 0, 0.5 or null.
    """
    if v is None:
        return None
    if isinstance(v, list):
        items = [(f"#{j + 1}", x, f"{VOTES_KEY}[{j}]") for j, x in enumerate(v)]
    elif isinstance(v, dict):
        items = [(str(k), x, f"{VOTES_KEY}[{k!r}]") for k, x in v.items()]
    else:
        raise RecordError(VOTES_KEY, f"wrong type: expected a list of votes or an object annotator -> vote, got "
                                     f"{type(v).__name__}")
    out: dict[str, float | None] = {}
    for name, x, field in items:
        if x is None:
            out[name] = None
            continue
        if isinstance(x, bool) or not isinstance(x, int | float) or float(x) not in VOTE_VALUES:
            raise RecordError(field, f"expected 1, 0, 0.5 (tie) or null, got {x!r:.40}")
        out[name] = float(x)
    if all(x is None for x in out.values()):
        raise RecordError(VOTES_KEY, "no vote (every entry is null)")
    return out


# ---------------------------------------------------------------- implicit prompts


def split_implicit(chosen: Text, rejected: Text) -> tuple[Text, Text, Text]:
    """Split two full transcripts into (prompt, chosen response, rejected response) at their shared prefix.

    Text: the prompt ends at the last `\\n\\nAssistant:` inside the shared prefix (Anthropic HH); without that
    marker, at the last whitespace of the shared prefix. Messages: the shared leading messages are the prompt.
    """
    if isinstance(chosen, list) and isinstance(rejected, list):
        k = 0
        while k < min(len(chosen), len(rejected)) and chosen[k] == rejected[k]:
            k += 1
        return chosen[:k], chosen[k:], rejected[k:]
    if isinstance(chosen, list) or isinstance(rejected, list):
        raise RecordError("rejected", "chosen and rejected must both be text or both be message lists")
    common = os.path.commonprefix([chosen, rejected])
    cut = common.rfind(HH_ASSISTANT)
    if cut >= 0:
        cut += len(HH_ASSISTANT)
    else:
        cut = max(common.rfind(" "), common.rfind("\n")) + 1 if len(common) < min(len(chosen), len(rejected)) else 0
        if cut < 0:
            cut = 0
    return chosen[:cut], chosen[cut:], rejected[cut:]


# ---------------------------------------------------------------- record parsers


def _extra(row: dict[str, Any], used: set[str]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in used}


def parse_pair(row: dict[str, Any], spec: FormatSpec) -> PreferencePair:
    """One row -> PreferencePair, or RecordError naming the field and the reason."""
    chosen = _text(row, spec.chosen_key, allow_empty=True)
    rejected = _text(row, spec.rejected_key, allow_empty=True)
    if spec.explicit:
        prompt = _text(row, spec.prompt_key) if row.get(spec.prompt_key) is not None else None  # type: ignore[arg-type]
        if prompt is None:
            raise RecordError(spec.prompt_key or "prompt", "missing")
        if isinstance(chosen, list) and isinstance(rejected, list):
            # UltraFeedback style: chosen/rejected repeat the prompt messages; keep only what differs
            p2, c2, r2 = split_implicit(chosen, rejected)
            if p2:
                prompt, chosen, rejected = p2, c2, r2
    else:
        # An empty final turn is a real response in HH ("the assistant said nothing" can be preferred), so it
        # is kept; `data stats` counts such responses.
        prompt, chosen, rejected = split_implicit(chosen, rejected)
    if chosen == rejected:
        raise RecordError(spec.chosen_key, "identical to rejected")
    _annotator(row)
    votes = parse_votes(row.get(VOTES_KEY))
    label = _number(row, "label", 0.0, 1.0)
    if label is None and votes is not None:  # the share of votes for chosen, ties counting 1/2
        cast = [x for x in votes.values() if x is not None]
        label = sum(cast) / len(cast)
    pair = PreferencePair(
        prompt=prompt,
        chosen=chosen,
        rejected=rejected,
        margin=_number(row, "margin"),
        label=label,
        tie=_bool(row, "tie"),
        category=_opt_str(row, "category"),
        id=_opt_str(row, "id"),
    )
    used = {spec.chosen_key, spec.rejected_key, *PAIR_COLUMNS}
    if spec.prompt_key:
        used.add(spec.prompt_key)
    pair.extra = _extra(row, used)
    return pair


def parse_ksample(row: dict[str, Any], spec: FormatSpec) -> KSampleSet:
    """One row -> KSampleSet (K responses with their scores and optional correctness)."""
    prompt = _text(row, spec.prompt_key or "prompt", "prompt")
    resp = row.get("responses")
    if resp is None:
        raise RecordError("responses", "missing")
    if not isinstance(resp, list) or len(resp) < 2:
        raise RecordError("responses", "wrong type: expected a list of at least 2 texts")
    for j, r in enumerate(resp):
        if not isinstance(r, str):
            raise RecordError(f"responses[{j}]", f"wrong type: expected text, got {type(r).__name__}")
    scores = row.get("scores")
    out_scores: list[float] | None = None
    if scores is not None:  # fresh samples (rewardlab generate) have none; evaluation asks for them
        if not isinstance(scores, list) or len(scores) != len(resp):
            raise RecordError("scores", f"expected a list of {len(resp)} numbers, one per response")
        out_scores = []
        for j, s in enumerate(scores):
            if isinstance(s, bool) or not isinstance(s, int | float) or not math.isfinite(float(s)):
                raise RecordError(f"scores[{j}]", f"wrong type: expected a finite number, got {s!r:.40}")
            out_scores.append(float(s))
    correct = row.get("correct")
    _annotator(row)
    if correct is not None:
        if not isinstance(correct, list) or len(correct) != len(resp):
            raise RecordError("correct", f"expected a list of {len(resp)} 0/1 values")
        if any(c not in (0, 1) or isinstance(c, float) and c not in (0.0, 1.0) for c in correct):
            raise RecordError("correct", "values must be 0 or 1")
        correct = [int(c) for c in correct]
    used = {spec.prompt_key or "prompt", "responses", "scores", "correct", "category", "id"}
    return KSampleSet(
        prompt=prompt,
        responses=list(resp),
        scores=out_scores,
        correct=correct,
        category=_opt_str(row, "category"),
        id=_opt_str(row, "id"),
        extra=_extra(row, used),
    )


def parse_battle(row: dict[str, Any], spec: FormatSpec) -> Battle:
    """One row -> Battle; winner must be model_a, model_b or tie."""
    prompt = _text(row, spec.prompt_key or "prompt", "prompt")
    a, b = _str(row, "model_a"), _str(row, "model_b")
    if a == b:
        raise RecordError("model_b", "same system as model_a")
    winner = _str(row, "winner")
    if winner not in WINNERS:
        raise RecordError("winner", f"must be one of {', '.join(WINNERS)}, got {winner!r:.40}")
    _annotator(row)
    parse_votes(row.get(VOTES_KEY))
    used = {spec.prompt_key or "prompt", "model_a", "model_b", "response_a", "response_b", "winner", "category", "id"}
    return Battle(
        prompt=prompt,
        model_a=a,
        model_b=b,
        response_a=_str(row, "response_a"),
        response_b=_str(row, "response_b"),
        winner=winner,
        category=_opt_str(row, "category"),
        id=_opt_str(row, "id"),
        extra=_extra(row, used),
    )


PARSERS = KindHooks("parse")  # record kind -> parser: a view of the kinds' registry (rewardlab.kinds)


def parse_row(row: dict[str, Any], spec: FormatSpec, source: str, line: int):
    """Parse one row; returns a record or an Issue (never raises for bad input)."""
    try:
        return get_kind(spec.kind).hook("parse")(row, spec)
    except RecordError as e:
        return Issue(source, line, e.field, e.reason)
