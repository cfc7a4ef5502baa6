"""Issue 24 item 2: the report, the comparison and the terminal summaries read result JSON through the typed
results of `rewardlab.results` (attributes), not through string keys. An `ast` scan of the consumer modules finds
every `x["key"]` read, `x.get("key")` / `.setdefault("key")` / `.pop("key")` call and `"key" in x` test with a
string constant; the few left are listed below, each with the reason it is not a read of result JSON."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "rewardlab"

# module (relative to src/rewardlab) -> the functions scanned (None: the whole module)
CONSUMERS: dict[str, tuple[str, ...] | None] = {
    **{f"report/{p.name}": None for p in sorted((SRC / "report").glob("*.py"))},
    "eval/summary.py": None,
    "eval/evaluate.py": ("compare_runs",),
    "demo.py": None,
    "audit/cli.py": None,
    "cli.py": None,
    "eval/compare_stage.py": None,
}

# (module, enclosing function, key) -> why the lookup is not a read of a result JSON file
ALLOWED: dict[tuple[str, str, str], str] = {
    # the entry point checks sys.modules and sets an environment variable: process state, not a result file
    ("cli.py", "main", "transformers"): "sys.modules lookup",
    ("cli.py", "main", "TRANSFORMERS_VERBOSITY"): "os.environ default",
    ("cli.py", "_main_process", "RANK"): "os.environ lookup (the launcher's rank)",
    # scores_<name>.jsonl rows: per-item scores (one JSON object per evaluated item), not a result file
    **{("report/compare.py", fn, k): "scores_<name>.jsonl rows" for fn, ks in {
        "_scores": ("id",),
        "_pair_length_corr": ("len_chosen", "reward_chosen", "reward_rejected", "len_rejected", "id"),
        "_paired": ("gold_chosen", "gold_rejected"),
    }.items() for k in ks},
    **{("eval/evaluate.py", "rows", k): "scores_<name>.jsonl rows" for k in ("id",)},
    **{("eval/evaluate.py", "compare_runs", k): "scores_<name>.jsonl rows"
       for k in ("reward_chosen", "reward_rejected", "label")},
    # rewardlab.stats.metrics.compare_models returns an in-memory dict (a statistic, not a file)
    ("report/compare.py", "diff", "difference"): "compare_models' return value",
    ("report/compare.py", "diff", "p_value"): "compare_models' return value",
    # rewardlab.audit.features.correlations returns an in-memory dict of statistics
    ("report/compare.py", "_pair_length_corr", "length_chars"): "correlations' return value",
    # a checkpoint's rewardlab.json: model metadata written by rewardlab.models.checkpoint, not a stage result
    **{("report/compare.py", "_training", k): "checkpoint metadata (rewardlab.json)" for k in (
        "train_config", "trained_head", "head", "loss", "base_model", "balance", "enabled", "data", "method",
        "augment", "kinds", "disentangle")},
    # rewardlab.logs.run.LogsEvalResult.values is a typed result's mapping keyed by estimator name (data, not a
    # schema field): the estimator names are the keys of ESTIMATORS
    ("report/logs_eval.py", "confounding_flags", "naive_obs"): "LogsEvalResult.values, keyed by estimator",
    # `"=" in f`: a NAME=FOLDER command-line argument, parsed by the report stage's spec
    ("report/stage.py", "models", "="): "a NAME=FOLDER argument, not a key",
}


def _lookups(tree: ast.AST) -> list[tuple[str, str, int]]:
    """(enclosing function, key, line) of every string-key lookup in `tree`."""
    found: list[tuple[str, str, int]] = []

    def visit(node: ast.AST, func: str) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            func = node.name
        key = None
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) \
                and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
            key = node.slice.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("get", "setdefault", "pop") and node.args \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            key = node.args[0].value
        elif isinstance(node, ast.Compare) and isinstance(node.left, ast.Constant) \
                and isinstance(node.left.value, str) and any(isinstance(op, ast.In | ast.NotIn) for op in node.ops):
            key = node.left.value
        if key is not None:
            found.append((func, key, node.lineno))
        for child in ast.iter_child_nodes(node):
            visit(child, func)

    visit(tree, "<module>")
    return found


def _scanned(rel: str, functions: tuple[str, ...] | None) -> ast.AST:
    tree = ast.parse((SRC / rel).read_text(), rel)
    if functions is None:
        return tree
    nodes = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name in functions]
    assert len(nodes) == len(functions), f"{rel}: {functions} not found"
    return ast.Module(body=nodes, type_ignores=[])


def string_key_reads(consumers: dict[str, tuple[str, ...] | None]) -> list[str]:
    """`module:line function key` of every string-key lookup not in ALLOWED."""
    out = []
    for rel, functions in consumers.items():
        for func, key, line in _lookups(_scanned(rel, functions)):
            if (rel, func, key) not in ALLOWED:
                out.append(f"{rel}:{line} {func} {key!r}")
    return out


def test_no_string_key_reads_of_result_json_in_the_consumers():
    assert string_key_reads(CONSUMERS) == [], (
        "read result JSON through rewardlab.results (attributes); a lookup that is not a result read goes in "
        "ALLOWED with its reason")


def test_every_allowed_lookup_still_exists():
    """An allow-list entry whose lookup is gone is removed, so the list stays short and true."""
    present = {(rel, func, key) for rel, fns in CONSUMERS.items() for func, key, _ in _lookups(_scanned(rel, fns))}
    assert sorted(set(ALLOWED) - present) == []


@pytest.mark.parametrize("code", [
    'def f(m):\n    return m["accuracy"]',
    'def f(m):\n    return m.get("accuracy", {})',
    'def f(m):\n    return "gold_agreement" in m',
    'def f(m):\n    m["plots"].append(1)',
])
def test_the_scan_finds_string_key_reads(code):
    assert [k for _, k, _ in _lookups(ast.parse(code))] in (["accuracy"], ["gold_agreement"], ["plots"])


def test_the_scan_leaves_writes_and_attributes_alone():
    code = 'def f(m, d):\n    d["n"] = m.n\n    return m.accuracy.estimate, d[0], d[m.kind]'
    assert _lookups(ast.parse(code)) == []
