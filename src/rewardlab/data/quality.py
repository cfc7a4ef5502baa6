"""Data quality of preference data: inter-annotator agreement and intransitive preference cycles.

Both work on *comparisons*: two items judged against each other for one prompt. For preference pairs an item is a
response; for K-wise sets every two of the K responses (the higher score wins, equal scores tie); for battles an
item is a system (`model_a`, `model_b`), so a prompt's graph links the systems that met on it.

Who judged what (agreement needs several judgements of one comparison):

- a `votes` column: one label per annotator on the record, a list (annotator j at position j, as
  `rewardlab data simulate --annotators N` writes) or an object {annotator: vote}; a vote is 1 (pairs: chosen
  preferred; battles: model_a), 0 (the other), 0.5 (a tie) or null (that annotator did not judge it). Without a
  `label` column, a pair's `label` is the share of its votes for `chosen` (ties count 1/2), which is what
  training uses; the simulator writes the same value and puts the majority's side in `chosen`.
- an annotator column (`annotator`, or `rater`, `judge`, `worker`): one row per judgement; rows with the same
  prompt and the same two responses (in either order) are one comparison judged several times. A pair row's vote
  is its chosen side (`label` below 0.5 the rejected side, 0.5 or `tie` a tie); a battle row's is its `winner`;
  a K-wise row gives one vote on each two of its responses. For training every row stays a pair of its own.

Agreement (see rewardlab.stats.agreement for the formulas): raw agreement, Fleiss' kappa, Krippendorff's alpha
(nominal) and, with exactly two annotators, Cohen's kappa, over comparisons with at least two judgements; the
categories are "first item preferred", "second item preferred" and "tie". Each comparison is oriented by a fixed
rule that does not look at the votes (a hash of the prompt and each item), so the two sides are exchangeable and chance
agreement is not inflated, as it would be if every comparison were oriented toward its majority ("chosen").
95% CIs: percentile bootstrap over comparisons (over prompts when prompts repeat).

Cycles: each prompt's comparison graph has an edge X -> Y when more judgements prefer X to Y than Y to X (ties
and even splits give no edge). An intransitive cycle is a directed cycle X1 > X2 > ... > Xk > X1 (k >= 3); every
simple cycle up to `max_cycle_length` is counted once (as the rotation that starts at its first item in the
prompt's order) and the first ones are listed. Battles also get the systems' graph over all prompts (an edge
where one system won more of their head-to-head judgements).

Example:
    >>> from rewardlab.data.schema import PreferencePair as P
    >>> pairs = [P("q", "a", "b"), P("q", "b", "c"), P("q", "c", "a"), P("r", "x", "y", extra={"votes": [1, 1, 0]})]
    >>> dq = data_quality(pairs, QualitySpec(n_resamples=0))
    >>> dq.cycles.n_cycles, dq.cycles.listed[0].items, dq.agreement.n_units
    (1, ['a', 'b', 'c'], 1)
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from rewardlab.data.formats import VOTES_KEY, annotator_key, parse_votes
from rewardlab.data.quality_spec import QualitySpec as QualitySpec  # the spec's module; re-exported here
from rewardlab.data.schema import Battle, KSampleSet, PreferencePair, Record, text_of
from rewardlab.stats.agreement import cohen_kappa, fleiss_kappa, krippendorff_alpha, raw_agreement
from rewardlab.stats.bootstrap import bootstrap_ci
from rewardlab.stats.util import ci_dict, jsonable

CATEGORIES = ("first", "second", "tie")  # which item of an oriented comparison an annotator preferred
MAX_CYCLES_PER_GRAPH = 100_000  # the search stops there (the count is then a lower bound: `truncated`)




@dataclass
class Agreement:
    """Inter-annotator agreement over the comparisons judged at least twice.

    Statistics are {estimate, lo, hi, confidence} dicts (lo/hi None without resamples) or None where they do not
    apply (`cohen_kappa` without exactly two annotators; `fleiss_kappa` uses the comparisons with the most common
    number of judgements, `fleiss_units` of them).
    """

    source: str
    n_units: int
    n_judgements: int
    n_annotators: int
    judgements_per_unit: dict[str, int]
    category_shares: dict[str, float]
    raw_agreement: dict[str, Any] | None
    krippendorff_alpha: dict[str, Any] | None
    fleiss_kappa: dict[str, Any] | None
    fleiss_units: int
    cohen_kappa: dict[str, Any] | None
    annotators: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Cycle:
    """One intransitive cycle: items[0] > items[1] > ... > items[-1] > items[0] within one prompt."""

    prompt: str
    items: list[str]
    ids: list[str] = field(default_factory=list)

    @property
    def length(self) -> int:
        """Number of items on the cycle."""
        return len(self.items)


@dataclass
class Cycles:
    """Preference cycles in the comparison graphs (one per prompt, or the systems' graph of battles)."""

    graph: str
    n_graphs: int
    n_graphs_with_cycles: int
    n_cycles: int
    by_length: dict[str, int]
    max_length: int
    truncated: bool
    listed: list[Cycle] = field(default_factory=list)


@dataclass
class DataQuality:
    """Agreement (None without several judgements per comparison) and cycles; `systems` only for battles."""

    kind: str
    n_comparisons: int
    agreement: Agreement | None
    cycles: Cycles
    systems: Cycles | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (cycles with their lengths)."""
        d = jsonable(asdict(self))
        for key in ("cycles", "systems"):
            if d.get(key):
                for c in d[key]["listed"]:
                    c["length"] = len(c["items"])
        return d

    def lines(self, width: int = 60) -> list[str]:
        """Readable summary: agreement with CIs, then cycle counts and the listed cycles (texts cut to `width`)."""

        def cut(t: str) -> str:
            t = " ".join(t.split())
            return t if len(t) <= width else t[: width - 3] + "..."

        out = []
        a = self.agreement
        if a is None:
            out.append("annotator agreement: n/a")
        else:
            per = ", ".join(f"{k} ({n} comparisons)" for k, n in a.judgements_per_unit.items())
            out.append(f"annotator agreement ({a.source}): {a.n_judgements} judgements of {a.n_units} comparisons "
                       f"by {a.n_annotators} annotators; judgements per comparison: {per}")
            shares = ", ".join(f"{k} {v:.3f}" for k, v in a.category_shares.items())
            out.append(f"  {'vote shares':>20}: {shares} (comparisons oriented by a hash of prompt and item)")
            for name, d in (("raw agreement", a.raw_agreement), ("Krippendorff alpha", a.krippendorff_alpha),
                            ("Fleiss kappa", a.fleiss_kappa), ("Cohen kappa", a.cohen_kappa)):
                if d is not None:
                    out.append(f"  {name:>20}: {_fmt_ci(d)}")
        for note in (a.notes if a else []) + self.notes:
            out.append(f"  note: {note}")
        for c in (self.cycles, self.systems):
            if c is None:
                continue
            lengths = ", ".join(f"{n} of length {k}" for k, n in c.by_length.items())
            more = " (search stopped at the limit: a lower bound)" if c.truncated else ""
            where = "the systems' graph" if c is self.systems else f"{c.n_graphs} prompt graphs with >= 3 items"
            found = f" ({lengths}) in {c.n_graphs_with_cycles} graph(s)" if c.n_cycles else ""
            out.append(f"preference cycles (length 3-{c.max_length}) in {where}: {c.n_cycles}{found}{more}")
            out.append(f"  graph: {c.graph}")
            for cy in c.listed:
                chain = " > ".join(cut(t) for t in cy.items + cy.items[:1])
                out.append(f"  [{cut(cy.prompt)}] {chain}")
            if c.n_cycles > len(c.listed):
                out.append(f"  ... and {c.n_cycles - len(c.listed)} more (--list-cycles N lists more)")
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataQuality:
        """Inverse of `to_dict` (what the report reads back from data_stats.json)."""

        def cycles(x: dict[str, Any] | None) -> Cycles | None:
            if x is None:
                return None
            listed = [Cycle(prompt=c["prompt"], items=list(c["items"]), ids=list(c.get("ids", [])))
                      for c in x.get("listed", [])]
            return Cycles(**{**{k: v for k, v in x.items() if k != "listed"}, "listed": listed})

        agr = d.get("agreement")
        return cls(kind=d["kind"], n_comparisons=d["n_comparisons"], agreement=Agreement(**agr) if agr else None,
                   cycles=cycles(d["cycles"]), systems=cycles(d.get("systems")),  # type: ignore[arg-type]
                   notes=list(d.get("notes", [])))


def _fmt_ci(d: dict[str, Any]) -> str:
    est = d.get("estimate")
    if est is None:
        return "n/a (undefined: a single category)"
    if d.get("lo") is None or d.get("hi") is None:
        return f"{est:.3f}"
    return f"{est:.3f}  95% CI [{d['lo']:.3f}, {d['hi']:.3f}]"


# ------------------------------------------------------------------------------------------ judgements


@dataclass
class _Judgement:
    prompt: str  # key of the prompt (text, or JSON of a message list)
    a: str  # key of one item (response text/JSON, or system name)
    b: str
    vote: float  # 1 a preferred, 0 b preferred, 0.5 tie
    rater: str | None  # None: nobody is named (a plain single-label record)
    unit: tuple[str, ...]  # what makes two judgements judge the same comparison
    rid: str | None = None


def _key(x: Any) -> str:
    return x if isinstance(x, str) else json.dumps(x, sort_keys=True, ensure_ascii=False)


def _hash(s: str) -> bytes:
    return hashlib.blake2b(s.encode("utf-8"), digest_size=8).digest()


def _pair_vote(p: PreferencePair) -> float:
    if p.tie or p.label == 0.5:
        return 0.5
    return 0.0 if p.label is not None and p.label < 0.5 else 1.0


def _judgements(records: Sequence[Record]) -> tuple[list[_Judgement], str | None, dict[str, str]]:
    """Every judgement of every record, what named the annotators (votes / an annotator column / None), and a
    display text per item key."""
    out: list[_Judgement] = []
    sources: set[str] = set()
    shown: dict[str, str] = {}
    for r in records:
        row = r.extra
        votes = parse_votes(row.get(VOTES_KEY)) if isinstance(r, PreferencePair | Battle) else None
        akey = annotator_key(row)
        rater = None if akey is None else str(row[akey])
        if votes is not None:
            sources.add(f"{VOTES_KEY} column")
        elif rater is not None:
            sources.add(f"annotator column ({akey})")
        pk = _key(r.prompt)
        if isinstance(r, PreferencePair):
            a, b = _key(r.chosen), _key(r.rejected)
            shown.setdefault(a, text_of(r.chosen))
            shown.setdefault(b, text_of(r.rejected))
            unit = (pk, *sorted((a, b)))
            if votes is not None:
                out += [_Judgement(pk, a, b, v, name, unit, r.id) for name, v in votes.items() if v is not None]
            else:
                out.append(_Judgement(pk, a, b, _pair_vote(r), rater, unit, r.id))
        elif isinstance(r, Battle):
            shown.setdefault(r.model_a, r.model_a)
            shown.setdefault(r.model_b, r.model_b)
            unit = (pk, *sorted(((r.model_a, r.response_a), (r.model_b, r.response_b))))  # type: ignore[arg-type]
            if votes is not None:
                out += [_Judgement(pk, r.model_a, r.model_b, v, name, unit, r.id)
                        for name, v in votes.items() if v is not None]
            else:
                v = 1.0 if r.winner == "model_a" else 0.0 if r.winner == "model_b" else 0.5
                out.append(_Judgement(pk, r.model_a, r.model_b, v, rater, unit, r.id))
        elif isinstance(r, KSampleSet) and r.scores is not None:
            keys = [_key(x) for x in r.responses]
            for k, x in zip(keys, r.responses, strict=True):
                shown.setdefault(k, text_of(x))
            for i in range(len(keys)):
                for j in range(i + 1, len(keys)):
                    if keys[i] == keys[j]:
                        continue
                    si, sj = r.scores[i], r.scores[j]
                    v = 1.0 if si > sj else 0.0 if si < sj else 0.5
                    out.append(_Judgement(pk, keys[i], keys[j], v, rater, (pk, *sorted((keys[i], keys[j]))), r.id))
    source = " and ".join(sorted(sources)) or None
    return out, source, shown


# ------------------------------------------------------------------------------------------ agreement


def orient(a: str, b: str, prompt: str = "") -> tuple[str, str]:
    """The fixed (first, second) order of two item keys of one prompt: by a hash of (prompt, item), so it never
    looks at the votes and the same two systems of battles are not always in the same order.

    Args:
        a, b: item keys (response texts, JSON of message lists, or system names).
        prompt: the prompt's key.
    Returns:
        (first, second).

    Example:
        >>> orient("yes", "no", "q") == orient("no", "yes", "q")
        True
    """
    return tuple(sorted((a, b), key=lambda k: (_hash(prompt + "\x00" + k), k)))  # type: ignore[return-value]


def _oriented(j: _Judgement) -> tuple[str, str, int]:
    """(first, second, category index) with the comparison's items in their hash order."""
    first, second = orient(j.a, j.b, j.prompt)
    if j.vote == 0.5:
        return first, second, 2
    winner = j.a if j.vote == 1.0 else j.b
    return first, second, 0 if winner == first else 1


def _ci(fn: Any, arrays: Sequence[np.ndarray], spec: QualitySpec, cluster: np.ndarray | None) -> dict[str, Any]:
    est = float(fn(*arrays))
    if spec.n_resamples == 0 or not np.isfinite(est):
        return ci_dict(est, float("nan"), float("nan"), 0.95)
    _, lo, hi = bootstrap_ci(fn, *arrays, n_resamples=spec.n_resamples, seed=spec.seed, cluster=cluster)
    return ci_dict(est, lo, hi, 0.95)


def agreement_stats(judgements: Sequence[_Judgement], source: str, spec: QualitySpec) -> Agreement | None:
    """Agreement over the comparisons with at least two judgements (None when there is none)."""
    by_unit: dict[tuple[str, ...], list[tuple[str | None, int]]] = defaultdict(list)
    unit_prompt: dict[tuple[str, ...], str] = {}
    for j in judgements:
        _, _, cat = _oriented(j)
        by_unit[j.unit].append((j.rater, cat))
        unit_prompt[j.unit] = j.prompt
    units = [u for u, js in by_unit.items() if len(js) >= 2]
    if not units:
        return None
    counts = np.zeros((len(units), len(CATEGORIES)))
    for i, u in enumerate(units):
        for _, cat in by_unit[u]:
            counts[i, cat] += 1
    prompts = np.array([unit_prompt[u] for u in units], dtype=object)
    cluster = prompts if len(set(prompts)) < len(units) else None
    sizes = counts.sum(axis=1).astype(int)
    raters = sorted({r for u in units for r, _ in by_unit[u] if r is not None})
    notes: list[str] = []
    repeats = sum(len(js) - len({r for r, _ in js}) for u in units if (js := by_unit[u]) and js[0][0] is not None)
    if repeats:
        notes.append(f"{repeats} judgement(s) repeat an annotator's earlier judgement of the same comparison; they "
                     "count as further judgements (intra-annotator agreement mixed in)")
    modal = Counter(sizes.tolist()).most_common(1)[0][0]
    fl_rows = counts[sizes == modal]
    fleiss = _ci(fleiss_kappa, [fl_rows], spec, cluster[sizes == modal] if cluster is not None else None)
    if modal != sizes.min() or modal != sizes.max():
        notes.append(f"comparisons have {sizes.min()}-{sizes.max()} judgements; Fleiss' kappa uses the "
                     f"{len(fl_rows)} with {modal} (Krippendorff's alpha uses all)")
    cohen = None
    if len(raters) == 2:
        both = [u for u in units if {r for r, _ in by_unit[u]} == set(raters) and len(by_unit[u]) == 2]
        a = np.array([dict(by_unit[u])[raters[0]] for u in both])
        b = np.array([dict(by_unit[u])[raters[1]] for u in both])
        if len(both):
            cl = np.array([unit_prompt[u] for u in both], dtype=object)
            cohen = _ci(cohen_kappa, [a, b], spec, cl if len(set(cl)) < len(both) else None)
            if len(both) < len(units):
                notes.append(f"Cohen's kappa uses the {len(both)} comparisons judged once by each annotator")
    elif raters:
        notes.append(f"Cohen's kappa needs exactly 2 annotators, there are {len(raters)}: see Fleiss' kappa and "
                     "Krippendorff's alpha")
    pooled = counts.sum(axis=0) / counts.sum()
    return Agreement(
        source=source,
        n_units=len(units),
        n_judgements=int(counts.sum()),
        n_annotators=len(raters),
        judgements_per_unit={str(k): v for k, v in sorted(Counter(sizes.tolist()).items())},
        category_shares={c: float(x) for c, x in zip(CATEGORIES, pooled, strict=True)},
        raw_agreement=_ci(raw_agreement, [counts], spec, cluster),
        krippendorff_alpha=_ci(krippendorff_alpha, [counts], spec, cluster),
        fleiss_kappa=fleiss,
        fleiss_units=len(fl_rows),
        cohen_kappa=cohen,
        annotators=raters[:50],
        notes=notes,
    )


# ------------------------------------------------------------------------------------------ cycles


def find_cycles(succ: Sequence[set[int]], max_length: int, limit: int = MAX_CYCLES_PER_GRAPH
                ) -> tuple[list[tuple[int, ...]], bool]:
    """Every simple directed cycle of length 3..max_length of a graph on nodes 0..n-1, once each.

    A cycle is reported as the rotation that starts at its smallest node: the search from node s only walks
    through nodes larger than s (a depth-first search bounded by `max_length`).

    Args:
        succ: succ[v] = the nodes v has an edge to.
        max_length: the longest cycle searched for (>= 3).
        limit: stop after this many cycles.
    Returns:
        (cycles as node tuples, whether the search stopped at `limit`).

    Example:
        >>> find_cycles([{1}, {2}, {0, 3}, {1}], 5)  # 0 > 1 > 2 > 0 and 1 > 2 > 3 > 1
        ([(0, 1, 2), (1, 2, 3)], False)
    """
    found: list[tuple[int, ...]] = []
    n = len(succ)
    for s in range(n):
        path = [s]
        on_path = {s}
        stack = [iter(sorted(v for v in succ[s] if v > s))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                on_path.discard(path.pop())
                continue
            if nxt in on_path:
                continue
            path.append(nxt)
            if len(path) >= 3 and s in succ[nxt]:
                found.append(tuple(path))
                if len(found) >= limit:
                    return found, True
            if len(path) < max_length:
                on_path.add(nxt)
                stack.append(iter(sorted(v for v in succ[nxt] if v > s and v not in on_path)))
            else:
                path.pop()
    return found, False


def _majority_graph(judgements: Sequence[_Judgement]) -> tuple[list[str], list[set[int]]]:
    """Nodes (in order of first appearance) and edges X -> Y where X won more judgements against Y."""
    nodes: dict[str, int] = {}
    net: dict[tuple[int, int], float] = defaultdict(float)
    for j in judgements:
        ia, ib = nodes.setdefault(j.a, len(nodes)), nodes.setdefault(j.b, len(nodes))
        d = 1.0 if j.vote == 1.0 else -1.0 if j.vote == 0.0 else 0.0
        if ia < ib:
            net[ia, ib] += d
        else:
            net[ib, ia] -= d
    succ: list[set[int]] = [set() for _ in nodes]
    for (x, y), d in net.items():
        if d > 0:
            succ[x].add(y)
        elif d < 0:
            succ[y].add(x)
    return list(nodes), succ


def _cycles(groups: dict[str, list[_Judgement]], shown: dict[str, str], spec: QualitySpec, graph: str,
            prompt_text: dict[str, str]) -> Cycles:
    n_graphs = n_with = n_cycles = 0
    by_length: Counter[int] = Counter()
    truncated = False
    listed: list[Cycle] = []
    for pk, js in groups.items():
        nodes, succ = _majority_graph(js)
        if len(nodes) < 3:
            continue
        n_graphs += 1
        found, cut = find_cycles(succ, spec.max_cycle_length)
        truncated |= cut
        if not found:
            continue
        n_with += 1
        n_cycles += len(found)
        by_length.update(len(c) for c in found)
        for c in found:
            if len(listed) >= spec.list_cycles:
                break
            members = {nodes[i] for i in c}
            ids = sorted({j.rid for j in js if j.rid is not None and j.a in members and j.b in members})
            listed.append(Cycle(prompt=prompt_text.get(pk, pk), items=[shown.get(nodes[i], nodes[i]) for i in c],
                                ids=ids[:20]))
    return Cycles(graph=graph, n_graphs=n_graphs, n_graphs_with_cycles=n_with, n_cycles=n_cycles,
                  by_length={str(k): v for k, v in sorted(by_length.items())}, max_length=spec.max_cycle_length,
                  truncated=truncated, listed=listed)


GRAPHS = {
    "pairs": "one per prompt: its responses, an edge X -> Y where more judgements prefer X to Y",
    "ksample": "one per prompt: its responses over all sets, an edge X -> Y where X outscores Y in more sets",
    "battles": "one per prompt: the systems that met on it, an edge X -> Y where X won more of their judgements",
}


def data_quality(records: Sequence[Record], spec: QualitySpec | None = None) -> DataQuality:
    """Agreement between annotators and intransitive preference cycles of pairs, K-wise sets or battles.

    Args:
        records: validated records of one kind (as `load_data` returns them).
        spec: options (cycle length, cycles listed, bootstrap); default QualitySpec().
    Returns:
        DataQuality: `agreement` (None without several judgements of one comparison), `cycles` per prompt and,
        for battles, `systems` (the graph of all prompts together).

    Example:
        >>> from rewardlab.data.schema import PreferencePair as P
        >>> dq = data_quality([P("q", "a", "b", extra={"annotator": "ann1"}),
        ...                    P("q", "b", "a", extra={"annotator": "ann2"})], QualitySpec(n_resamples=0))
        >>> dq.agreement.raw_agreement["estimate"], dq.agreement.n_annotators, dq.cycles.n_cycles
        (0.0, 2, 0)
    """
    spec = spec or QualitySpec()
    kind = records[0].kind if records else "pairs"
    judgements, source, shown = _judgements(records)
    prompt_text: dict[str, str] = {}
    groups: dict[str, list[_Judgement]] = defaultdict(list)
    for r in records:
        prompt_text.setdefault(_key(r.prompt), text_of(r.prompt))
    for j in judgements:
        groups[j.prompt].append(j)
    notes: list[str] = []
    agreement = agreement_stats(judgements, source, spec) if source else None
    if agreement is None:
        notes.append("no comparison was judged by several annotators: give a `votes` column or an annotator "
                     "column (one row per judgement) to measure agreement")
    if kind == "ksample" and not judgements:
        notes.append("K-wise sets without scores: nothing to compare")
    systems = None
    if kind == "battles":
        systems = _cycles({"(all prompts)": judgements}, shown, spec, "the systems over all prompts, an edge X -> Y "
                          "where X won more of their judgements", {"(all prompts)": "(all prompts)"})
    return DataQuality(kind=kind, n_comparisons=len({j.unit for j in judgements}), agreement=agreement,
                       cycles=_cycles(groups, shown, spec, GRAPHS[kind], prompt_text), systems=systems,
                       notes=notes)
