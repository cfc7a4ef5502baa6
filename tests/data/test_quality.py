"""Data quality: preference cycles against brute-force enumeration and planted cycles, annotator agreement through
the data formats against direct computation and scikit-learn, the simulator's agreement against its noise model,
and the votes / annotator columns' validation."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from rewardlab.data.load import load_data
from rewardlab.data.quality import QualitySpec, data_quality, find_cycles, orient
from rewardlab.data.schema import Battle, KSampleSet, PreferencePair
from rewardlab.errors import DataValidationError
from rewardlab.simulate import SimConfig, simulate_pairs
from rewardlab.stats.agreement import fleiss_kappa, krippendorff_alpha

NO_CI = QualitySpec(n_resamples=0)


def _canonical(cycle: tuple) -> tuple:
    """The rotation of a cycle that starts at its smallest element."""
    i = cycle.index(min(cycle))
    return tuple(cycle[i:]) + tuple(cycle[:i])


def _brute_force_cycles(succ: list[set[int]], max_length: int) -> set[tuple[int, ...]]:
    """Every ordered selection of 3..max_length distinct nodes that closes into a directed cycle."""
    out = set()
    for k in range(3, max_length + 1):
        for perm in itertools.permutations(range(len(succ)), k):
            if all(perm[(i + 1) % k] in succ[perm[i]] for i in range(k)):
                out.add(_canonical(perm))
    return out


def test_find_cycles_equals_brute_force_on_random_graphs():
    rng = np.random.default_rng(0)
    n_found = 0
    for _ in range(150):
        n = int(rng.integers(3, 8))
        density = rng.uniform(0.2, 0.9)
        succ: list[set[int]] = [set() for _ in range(n)]
        for x, y in itertools.combinations(range(n), 2):  # a majority graph: at most one direction per pair
            if rng.random() < density:
                if rng.random() < 0.5:
                    succ[x].add(y)
                else:
                    succ[y].add(x)
        max_length = int(rng.integers(3, n + 1))
        found, truncated = find_cycles(succ, max_length)
        assert not truncated
        assert len(found) == len(set(found))  # each cycle once
        assert set(found) == _brute_force_cycles(succ, max_length)
        n_found += len(found)
    assert n_found > 100  # the graphs did have cycles to find


def test_find_cycles_stops_at_the_limit():
    n = 7
    tournament = [{(x + d) % n for d in (1, 2, 3)} for x in range(n)]  # regular tournament: many cycles
    found, truncated = find_cycles(tournament, 7, limit=10)
    assert truncated and len(found) == 10


def _chain(prompt: str, items: list[str]) -> list[PreferencePair]:
    """A transitive prompt: items[0] > items[1] > ..., every pair judged once (in a shuffled orientation)."""
    return [PreferencePair(prompt, items[i], items[j]) for i, j in itertools.combinations(range(len(items)), 2)]


def test_planted_cycles_are_all_found_and_no_others():
    """Transitive prompts (no cycle) plus prompts with planted cycles, in pairs with and without votes, K-wise
    sets and battles: the cycles found are exactly the planted ones."""
    rng = np.random.default_rng(4)
    pairs: list[PreferencePair] = []
    planted: set[tuple[str, tuple[str, ...]]] = set()
    for p in range(30):
        items = [f"p{p}-r{i}" for i in range(int(rng.integers(3, 7)))]
        pairs += _chain(f"chain {p}", items)
    for p in range(12):
        k = 3 + p % 3  # 3-, 4- and 5-cycles without chords
        items = [f"c{p}-r{i}" for i in range(k)]
        pairs += [PreferencePair(f"cycle {p}", items[i], items[(i + 1) % k]) for i in range(k)]
        planted.add((f"cycle {p}", _canonical(tuple(items))))
    # a cycle by majority of votes: a > b (2 of 3), b > c, c > a (2 of 3); plus a prompt whose even split on
    # c-a leaves no edge, so no cycle
    v = {"votes": [1, 1, 0]}
    pairs += [PreferencePair("votes", "a", "b", extra=dict(v)), PreferencePair("votes", "b", "c", extra=dict(v)),
              PreferencePair("votes", "c", "a", extra=dict(v))]
    planted.add(("votes", ("a", "b", "c")))
    pairs += [PreferencePair("split", "a", "b"), PreferencePair("split", "b", "c"),
              PreferencePair("split", "c", "a", extra={"votes": [1, 0]})]
    order = rng.permutation(len(pairs))
    dq = data_quality([pairs[i] for i in order], QualitySpec(n_resamples=0, list_cycles=1000))
    got = {(c.prompt, _canonical(tuple(c.items))) for c in dq.cycles.listed}
    assert got == planted
    assert dq.cycles.n_cycles == len(planted) and dq.cycles.by_length == {"3": 5, "4": 4, "5": 4}
    assert dq.cycles.n_graphs == 30 + 12 + 2
    # a planted 5-cycle is not searched for with --max-cycle-length 4
    short = data_quality(pairs, QualitySpec(n_resamples=0, list_cycles=1000, max_cycle_length=4))
    assert short.cycles.n_cycles == len(planted) - 4

    # K-wise: three annotators' scores for one prompt's three responses, each a total order, but together a
    # majority cycle x > y > z > x (Condorcet's paradox); a fourth prompt of agreeing rankings has none
    sets = [KSampleSet("condorcet", ["x", "y", "z"], scores=s, extra={"annotator": f"r{i}"})
            for i, s in enumerate([[3, 2, 1], [1, 3, 2], [2, 1, 3]])]
    sets += [KSampleSet("agreeing", ["x", "y", "z"], scores=[3, 2, 1], extra={"annotator": f"r{i}"})
             for i in range(3)]
    dk = data_quality(sets, NO_CI)
    assert [(c.prompt, _canonical(tuple(c.items))) for c in dk.cycles.listed] == [("condorcet", ("x", "y", "z"))]
    assert dk.agreement is not None and dk.agreement.n_units == 6

    # battles: systems A > B > C > A on one prompt, and over all prompts A beats B, B beats C, C beats A
    def battle(prompt: str, a: str, b: str, winner: str) -> Battle:
        return Battle(prompt, a, b, f"{a} says", f"{b} says", winner)

    battles = [battle("q1", "A", "B", "model_a"), battle("q1", "B", "C", "model_a"), battle("q1", "C", "A", "model_a"),
               battle("q2", "A", "B", "model_b"), battle("q2", "B", "C", "model_b"), battle("q2", "A", "C", "tie")]
    db = data_quality(battles, NO_CI)
    assert [_canonical(tuple(c.items)) for c in db.cycles.listed] == [("A", "B", "C")]
    assert db.systems is not None and db.systems.n_cycles == 0  # q2 evens out A-B and B-C over all prompts
    db2 = data_quality(battles[:3] + [battle("q3", "C", "A", "model_a")], NO_CI)
    assert db2.systems.n_cycles == 1 and db2.systems.listed[0].prompt == "(all prompts)"


def _long_and_wide(rng: np.random.Generator, n_units: int, raters: list[str], p_missing: float = 0.0):
    """The same judgements as one row per judgement (annotator column) and as one record with a votes object."""
    long, wide, truth = [], [], []
    for u in range(n_units):
        a, b = f"answer {u} one", f"answer {u} two"
        votes = {}
        for r in raters:
            if rng.random() < p_missing:
                continue
            v = float(rng.choice([1.0, 0.0, 0.5], p=[0.6, 0.3, 0.1]))
            votes[r] = v
            if v == 0.5:
                long.append(PreferencePair(f"q{u}", a, b, tie=True, label=0.5, extra={"annotator": r}))
            elif v == 1.0:
                long.append(PreferencePair(f"q{u}", a, b, extra={"annotator": r}))
            else:
                long.append(PreferencePair(f"q{u}", b, a, extra={"annotator": r}))
        if votes:
            wide.append(PreferencePair(f"q{u}", a, b, extra={"votes": votes}))
            truth.append((f"q{u}", a, b, votes))
    return long, wide, truth


def _category(prompt: str, a: str, b: str, vote: float) -> int:
    first, _ = orient(a, b, prompt)
    if vote == 0.5:
        return 2
    return 0 if (a if vote == 1.0 else b) == first else 1


def test_agreement_from_annotator_rows_equals_votes_and_direct_computation():
    rng = np.random.default_rng(5)
    long, wide, truth = _long_and_wide(rng, 300, ["ann", "bob", "cy", "dee"], p_missing=0.25)
    spec = QualitySpec(n_resamples=200)
    from_long, from_wide = data_quality(long, spec).agreement, data_quality(wide, spec).agreement
    assert from_long is not None and from_wide is not None
    for key in ("raw_agreement", "krippendorff_alpha", "fleiss_kappa"):
        assert getattr(from_long, key) == pytest.approx(getattr(from_wide, key), abs=1e-12), key
    counts = np.zeros((len(truth), 3))
    for i, (q, a, b, votes) in enumerate(truth):
        for v in votes.values():
            counts[i, _category(q, a, b, v)] += 1
    keep = counts.sum(axis=1) >= 2
    assert from_long.n_units == keep.sum() and from_long.n_annotators == 4
    assert from_long.krippendorff_alpha["estimate"] == pytest.approx(krippendorff_alpha(counts[keep]), abs=1e-12)
    sizes = counts.sum(axis=1)
    assert np.bincount(sizes.astype(int)).argmax() == 3  # most units have 3 of the 4 judgements
    modal = counts[sizes == 3]  # Fleiss' kappa takes the units with the most common number of judgements
    assert from_long.fleiss_units == len(modal) and any("Fleiss' kappa uses the" in n for n in from_long.notes)
    assert from_long.fleiss_kappa["estimate"] == pytest.approx(fleiss_kappa(modal), abs=1e-12)
    a = from_long.krippendorff_alpha
    assert a["lo"] < a["estimate"] < a["hi"] and from_long.cohen_kappa is None


def test_cohen_kappa_of_two_annotators_equals_sklearn():
    rng = np.random.default_rng(6)
    long, _, truth = _long_and_wide(rng, 200, ["ann", "bob"])
    agr = data_quality(long, NO_CI).agreement
    assert agr is not None and agr.annotators == ["ann", "bob"]
    ann = [_category(q, a, b, v["ann"]) for q, a, b, v in truth]
    bob = [_category(q, a, b, v["bob"]) for q, a, b, v in truth]
    assert agr.cohen_kappa["estimate"] == pytest.approx(cohen_kappa_score(ann, bob), abs=1e-12)


def test_simulator_agreement_falls_with_label_noise_as_theory_says():
    """Each of m annotators votes for the chosen response with q = p (1 - f) + (1 - p) f (p the annotator model's
    probability, f the flip probability), independently, so the expected raw agreement is the mean of
    q^2 + (1 - q)^2; measured agreement matches it and falls as f rises, and so does alpha."""
    raw, alpha = [], []
    for f in (0.0, 0.1, 0.25, 0.4):
        recs = simulate_pairs(1500, seed=7, config=SimConfig(n_annotators=5, flip_prob=f))
        p = np.array([r["p_chosen"] for r in recs])
        q = p * (1 - f) + (1 - p) * f
        theory = float(np.mean(q**2 + (1 - q) ** 2))
        pairs = [PreferencePair(r["prompt"], r["chosen"], r["rejected"], label=r["label"],
                                extra={"votes": r["votes"]}) for r in recs]
        agr = data_quality(pairs, QualitySpec(n_resamples=300)).agreement
        assert agr is not None and agr.n_units == 1500 and agr.judgements_per_unit == {"5": 1500}
        est = agr.raw_agreement
        assert est["lo"] - 0.005 <= theory <= est["hi"] + 0.005, (f, theory, est)
        # orientation by hash, not toward the majority: "first" and "second" are about equally common
        assert abs(agr.category_shares["first"] - 0.5) < 0.03
        raw.append(est["estimate"])
        alpha.append(agr.krippendorff_alpha["estimate"])
    assert raw == sorted(raw, reverse=True) and alpha == sorted(alpha, reverse=True)
    assert alpha[-1] < 0.1 < 0.4 < alpha[0]  # f = 0.4 leaves little beyond chance


def _write(tmp_path, rows) -> str:
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_votes_and_annotator_columns_are_validated_with_line_and_field(tmp_path):
    good = {"prompt": "q", "chosen": "a", "rejected": "b"}
    rows = [dict(good, votes=[1, 0, 1]), dict(good, votes=[1, 2]), dict(good, votes="1,0"),
            dict(good, annotator=["x"]), dict(good, votes={"ann": None}), dict(good, annotator=" "),
            dict(good, votes={"ann": 1, "bob": True})]
    with pytest.raises(DataValidationError) as e:
        load_data(_write(tmp_path, rows))
    issues = [str(i).split(": ", 1)[1] for i in e.value.issues]
    lines = [i.line for i in e.value.issues]
    assert lines == [2, 3, 4, 5, 6, 7]
    assert issues[0] == "votes[1]: expected 1, 0, 0.5 (tie) or null, got 2"
    assert issues[1].startswith("votes: wrong type: expected a list of votes or an object")
    assert issues[2] == "annotator: wrong type: expected the annotator's name or number, got list"
    assert issues[3] == "votes: no vote (every entry is null)"
    assert issues[4] == "annotator: empty text"
    assert issues[5] == "votes['bob']: expected 1, 0, 0.5 (tie) or null, got True"


def test_a_multi_annotator_file_trains_on_the_share_of_votes(tmp_path):
    """The simulator's file loads as pairs whose label is the share of votes for chosen (the majority side); a
    user file with votes and no label gets the same label; a label column, when given, is kept."""
    recs = simulate_pairs(50, seed=2, config=SimConfig(n_annotators=5))
    path = tmp_path / "sim.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    loaded = load_data(str(path)).records
    assert [p.label for p in loaded] == [r["label"] for r in recs] == [np.mean(r["votes"]) for r in recs]
    assert all(p.label >= 0.5 for p in loaded) and any(p.label < 1 for p in loaded)
    user = [{"prompt": "q", "chosen": "a", "rejected": "b", "votes": [1, 0.5, None, 0]},
            {"prompt": "q", "chosen": "a", "rejected": "c", "votes": {"x": 1}, "label": 0.9}]
    got = load_data(_write(tmp_path, user)).records
    assert [p.label for p in got] == [0.5, 0.9]


def test_no_annotators_no_agreement():
    dq = data_quality([PreferencePair("q", "a", "b"), PreferencePair("q", "a", "b")], NO_CI)
    assert dq.agreement is None and "no comparison was judged by several annotators" in dq.notes[0]
    assert dq.to_dict()["agreement"] is None


def test_data_stats_command_reports_agreement_and_cycles(tmp_path):
    from typer.testing import CliRunner

    from rewardlab.cli import app

    data, out = tmp_path / "multi.jsonl", tmp_path / "stats.json"
    runner = CliRunner()
    res = runner.invoke(app, ["data", "simulate", "--kind", "pairs", "-n", "300", "--annotators", "5", "--seed", "2",
                              "-o", str(data)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["data", "stats", str(data), "--tokenizer", "none", "--agreement-resamples", "50",
                              "--max-cycle-length", "4", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "annotator agreement (votes column): 1500 judgements of 300 comparisons by 5 annotators" in res.output
    for name in ("raw agreement", "Krippendorff alpha", "Fleiss kappa"):
        assert f"{name}: " in res.output
    assert "preference cycles (length 3-4)" in res.output
    q = json.loads(out.read_text())["quality"]
    assert q["agreement"]["n_annotators"] == 5 and q["cycles"]["max_length"] == 4
