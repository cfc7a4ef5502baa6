"""The package's import graph has no cycles: between modules, and between subpackages (stages). Imports inside
functions count too: a lazy import still ties two modules together. Parsed with `ast`, nothing is imported."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "rewardlab"
RUN_TARGET = re.compile(r"rewardlab(\.\w+)+:\w+")


def _modules() -> dict[str, Path]:
    mods = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = path
    return mods


def import_graph() -> dict[str, set[str]]:
    """Module -> the rewardlab modules it imports. `from pkg import name` points at `pkg.name` when that is a
    module (the import machinery loads it), else at `pkg`. A string "rewardlab.x.y:function" (the command table's
    run targets, imported when a command runs) counts as an import of rewardlab.x.y."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and RUN_TARGET.fullmatch(node.value):
                targets = [node.value.partition(":")[0]]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    here = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    here = here[: len(here) - (node.level - 1)]
                    base = ".".join(here + ([base] if base else []))
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in mods else base)
            graph[mod].update(t for t in targets if t in mods and t != mod)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def stage(module: str) -> str:
    """The subpackage (or top-level module) a module belongs to: rewardlab.train.trainer -> rewardlab.train."""
    return ".".join(module.split(".")[:2])


def stage_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    # the package root re-exports the public API lazily; it sits above every stage, so it is left out
    out: dict[str, set[str]] = {}
    for a, targets in graph.items():
        for b in targets:
            sa, sb = stage(a), stage(b)
            if sa != sb and "rewardlab" not in (sa, sb):
                out.setdefault(sa, set()).add(sb)
    return out


def test_no_cycle_between_modules():
    assert cycles(import_graph()) == []


def test_no_cycle_between_stages():
    assert cycles(stage_graph(import_graph())) == []


def test_leaves_import_no_stage():
    graph = import_graph()
    for leaf in ("rewardlab.stats", "rewardlab.batching", "rewardlab.errors", "rewardlab.version"):
        reached = {stage(t) for m, ts in graph.items() if stage(m) == leaf for t in ts} - {leaf}
        assert reached <= {"rewardlab.errors", "rewardlab._entry"}, f"{leaf} imports {sorted(reached)}"
    assert not any(stage(t) == "rewardlab.report" for m, ts in graph.items() if stage(m) not in (
        "rewardlab.report", "rewardlab.cli", "rewardlab.demo", "rewardlab", "rewardlab.record_kinds") for t in ts)


def test_the_checker_sees_a_cycle_and_a_lazy_import(tmp_path):
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert cycles(g) == [["a", "b", "c"]]
    graph = import_graph()  # frozen.py imports losses at module level; cli.py names the trainer in its command table
    assert "rewardlab.train.losses" in graph["rewardlab.train.frozen"]
    assert "rewardlab.train.trainer" in graph["rewardlab.cli"]


def test_public_api_is_lazy_and_complete():
    code = ("import sys, rewardlab; heavy = [m for m in ('torch', 'transformers', 'numpy') if m in sys.modules]; "
            "print(heavy); from rewardlab import load, train, TrainConfig, evaluate, audit, get_scorer, "
            "RewardOutput, build_report; print(callable(train), callable(audit), TrainConfig.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "[]"  # `import rewardlab` loads no heavy library
    assert out[1] == "True True TrainConfig"


def _heavy_after(code: str) -> list[str]:
    """The heavy libraries a fresh interpreter holds after running `code`."""
    probe = (f"{code}; import sys; print([m for m in ('torch', 'transformers', 'numpy', 'scipy', 'sklearn') "
             "if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return eval(out.strip().splitlines()[-1])  # noqa: S307  (our own printed list)


@pytest.mark.parametrize("code", [
    "from rewardlab import TrainConfig, DataSpec, EnsembleSpec",  # issue 24 item 4: specs import no numpy
    "import rewardlab.cli",  # what `rewardlab --help` imports: < 1.5 s
    "from rewardlab.sweep import SweepSpec; from rewardlab.policy.spec import OptimizeSpec",
    "from rewardlab.optimize.spec import BonSpec, GoodhartSpec",
    "import rewardlab.stats, rewardlab.scoring, rewardlab.eval, rewardlab.optimize",  # thin package __init__ files
    "import rewardlab.simulate, rewardlab.report, rewardlab.models, rewardlab.audit, rewardlab.logs",
    "from rewardlab.data.stage import DataStatsSpec; from rewardlab.serve.spec import ServeCommandSpec",
    "from rewardlab.eval.eval_stage import EvalSpec; from rewardlab.eval.score_stage import ScoreSpec",
    "from rewardlab.policy.spec import OptimizeSpec, CompareSpec; from rewardlab.audit.spec import AuditSpec",
])
def test_specs_and_the_command_line_load_no_torch_numpy_or_scipy(code):
    assert _heavy_after(code) == []


def test_reward_output_loads_numpy_but_no_torch_or_scipy():
    """RewardOutput is a result type (numpy arrays of rewards), not a spec: numpy is its one heavy import
    (issue 24 item 4: `from rewardlab import TrainConfig, RewardOutput` < 0.3 s)."""
    assert _heavy_after("from rewardlab import TrainConfig, RewardOutput") == ["numpy"]
