"""Issue 24 item 3: one record-kind registry (`rewardlab.kinds`). A toy kind registered from this file, touching
no other module, is evaluated, written to and read back from metrics.json as its own typed metrics, shown in
report.html and in the terminal headline; the three built-in kinds resolve every hook; the registry loads nothing
heavy."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from typing import Any

import pytest

from rewardlab.errors import RewardlabError
from rewardlab.kinds import HOOKS, RecordKind, get_kind, kind_names, register_kind, unregister_kind
from rewardlab.results.metrics import DatasetMetrics, Estimate


@dataclasses.dataclass
class Toy:
    """A record of the toy kind: one prompt and one response that should score above zero."""

    prompt: str
    response: str
    id: str = ""
    kind: str = "toy"


@dataclasses.dataclass(kw_only=True)
class ToyMetrics(DatasetMetrics):
    n: int
    share_positive: Estimate


def evaluate_toys(scorer: Any, toys: list[Toy], n_resamples: int, seed: int, progress: bool,
                  **options: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rewards = scorer.score([t.prompt for t in toys], [t.response for t in toys], progress=progress).mean
    share = float(sum(r > 0 for r in rewards) / len(toys))
    rows = [{"id": t.id, "reward": float(r)} for t, r in zip(toys, rewards, strict=True)]
    return {"n": len(toys), "share_positive": {"estimate": share, "lo": None, "hi": None}}, rows


def toy_section(name: str, m: ToyMetrics, folder: Any, plots: list[str]) -> str:
    return f"<h2>{name}: toys</h2><p>{m.n} toys, {m.share_positive.estimate:.0%} positive</p>"


def toy_lines(name: str, m: ToyMetrics) -> list[str]:
    return [f"{name}: {m.n} toys, share positive {m.share_positive.text()}"]


def toy_stats(toys: list[Toy], tokenizer: Any) -> dict[str, Any]:
    return {"kind": "toy", "n_toys": len(toys), "prompts": len({t.prompt for t in toys})}


@pytest.fixture
def toy_kind():
    kind = register_kind(RecordKind(name="toy", human_name="toys", record=Toy, evaluate=evaluate_toys,
                                    metrics=ToyMetrics, report_section=toy_section, summary_lines=toy_lines,
                                    stats=toy_stats))
    yield kind
    unregister_kind("toy")


def test_a_registered_toy_kind_flows_through_eval_report_and_headline(tmp_path, toy_kind):
    from rewardlab import CallableScorer, evaluate
    from rewardlab.eval.summary import headline
    from rewardlab.report import build_report
    from rewardlab.results import read_result
    from rewardlab.results.metrics import EvalMetrics

    toys = [Toy("p", "good answer", id="a"), Toy("p", "bad", id="b"), Toy("q", "good too", id="c")]
    scorer = CallableScorer(lambda p, r: 1.0 if "good" in r else -1.0, name="goodness")
    res = evaluate(scorer, {"toys": toys}, tmp_path, n_resamples=10, progress=False)
    assert res["datasets"]["toys"]["kind"] == "toy" and res["plots"] == {"toys": []}  # the toy kind has no plots
    m = read_result(tmp_path / "metrics.json", EvalMetrics).datasets["toys"]
    assert isinstance(m, ToyMetrics) and m.n == 3 and m.share_positive.estimate == pytest.approx(2 / 3)
    assert [json.loads(line)["id"] for line in (tmp_path / "scores_toys.jsonl").read_text().splitlines()] == \
        ["a", "b", "c"]
    html = build_report(tmp_path).read_text()
    assert "<h2>toys: toys</h2><p>3 toys, 67% positive</p>" in html
    assert headline(res) == "toys: 3 toys, share positive 0.667"


def test_data_stats_dispatch_through_the_registry(toy_kind):
    from rewardlab.data.stats import data_stats

    toys = [Toy("p", "good answer", id="a"), Toy("p", "bad", id="b"), Toy("q", "good too", id="c")]
    s = data_stats(toys)  # type: ignore[arg-type]
    assert s == {"kind": "toy", "n_toys": 3, "prompts": 2}  # no quality section: it knows the built-in kinds
    register_kind(dataclasses.replace(toy_kind, stats=None), replace=True)
    with pytest.raises(RewardlabError, match="record kind 'toy' registers no statistics"):
        data_stats(toys)  # type: ignore[arg-type]


def test_without_its_registration_the_toy_metrics_still_load_but_have_no_section(tmp_path, toy_kind):
    from rewardlab import CallableScorer, evaluate
    from rewardlab.report import build_report
    from rewardlab.results.metrics import EvalMetrics

    evaluate(CallableScorer(lambda p, r: 1.0, name="one"), {"toys": [Toy("p", "r")]}, tmp_path, n_resamples=10,
             progress=False, plots=False)
    unregister_kind("toy")
    try:
        m = EvalMetrics.read(tmp_path / "metrics.json").datasets["toys"]
        assert type(m) is DatasetMetrics and m.extra["n"] == 1  # every metrics.json loads
        with pytest.raises(RewardlabError, match="record kind 'toy', which has no report section"):
            build_report(tmp_path)
    finally:
        register_kind(toy_kind)


def test_the_builtin_kinds_resolve_every_hook():
    assert kind_names()[:3] == ("pairs", "ksample", "battles")
    for name in ("pairs", "ksample", "battles"):
        kind = get_kind(name)
        hooks = {h: kind.hook(h) for h in HOOKS}
        assert all(callable(v) for v in hooks.values()), name
        assert hooks["record"].kind == name  # the record class is the kind's
        assert hooks["metrics"].__name__.lower().startswith(name.rstrip("s")[:5])


def test_the_old_tables_are_views_of_the_registry(toy_kind):
    from rewardlab.data.formats import PARSERS
    from rewardlab.eval.evaluate import EVALUATORS, eval_pairs
    from rewardlab.eval.summary import HEADLINES

    assert EVALUATORS["pairs"] is eval_pairs and EVALUATORS["toy"] is evaluate_toys
    assert "toy" not in PARSERS and "toy" in HEADLINES and set(PARSERS) == {"pairs", "ksample", "battles"}


def test_registry_mistakes_are_one_error():
    with pytest.raises(RewardlabError, match="unknown record kind 'nope' \\(known: pairs, ksample, battles"):
        get_kind("nope")
    with pytest.raises(RewardlabError, match="registered already"):
        register_kind(RecordKind(name="pairs", human_name="x", record=dict, evaluate=len))
    broken = RecordKind(name="broken", human_name="x", record="rewardlab.nope:Nothing", evaluate=len)
    with pytest.raises(RewardlabError, match="its record 'rewardlab.nope:Nothing' cannot be loaded"):
        broken.hook("record")


def test_the_registry_loads_nothing_heavy():
    code = ("import sys, rewardlab.kinds; print([m for m in ('torch', 'numpy', 'scipy', 'rewardlab.eval', "
            "'rewardlab.report', 'rewardlab.data') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
