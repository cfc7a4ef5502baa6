"""docs/ARCHITECTURE.md stays true: every `src/...` or `tests/...` path and every `rewardlab.x.y` name in backticks
exists, every top-level package sits in exactly one layer, imports point to the same layer or a lower one (but for
the upward imports the page lists, each of which must still exist), and the imports between stages are exactly the
page's list. Names are resolved with `ast`, so nothing is imported."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

from test_imports import import_graph, stage

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "ARCHITECTURE.md"
SRC = ROOT / "src"
STAGE_LAYER = 3
FILE_NAME = re.compile(r"\.(json|jsonl|md|png|csv|html|yaml)$")  # `rewardlab.json` is a file, not a name


def _ticks(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", text)


def _section(text: str, heading: str) -> str:
    """The text under `heading` (a whole heading line) up to the next heading."""
    lines = text.splitlines()
    start = lines.index(heading) + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("#")), len(lines))
    return "\n".join(lines[start:end])


def _arrows(section: str) -> set[tuple[str, str]]:
    """(a, b) of every bullet that reads "- `a` -> `b` ..."."""
    out = set()
    for line in section.splitlines():
        m = re.match(r"- `([\w.]+)` -> `([\w.]+)`", line)
        if m:
            out.add((m.group(1), m.group(2)))
    return out


@functools.cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def _module_file(parts: list[str]) -> Path | None:
    base = SRC.joinpath(*parts)
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _defined(body: list[ast.stmt], name: str) -> ast.stmt | None:
    """The statement of `body` that binds `name` (def, class, assignment, import), or None."""
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == name:
            return node
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return node
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            return node
        if isinstance(node, ast.ImportFrom | ast.Import) and any((a.asname or a.name) == name for a in node.names):
            return node
    return None


def _lazy_export(tree: ast.Module, name: str) -> bool:
    """A package exports `name` lazily (its name is a string in the package's lazy table)."""
    return any(isinstance(n, ast.Constant) and n.value == name for n in ast.walk(tree))


def name_exists(dotted: str) -> bool:
    """`rewardlab.a.b` is a module, a name a module defines (or a package exports lazily), or an attribute defined
    in the body of a class of a module."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        path = _module_file(parts[:i])
        if path is None:
            continue
        rest = parts[i:]
        if not rest:
            return True
        tree = _tree(path)
        node = _defined(tree.body, rest[0])
        if len(rest) == 1:
            return node is not None or (path.name == "__init__.py" and _lazy_export(tree, rest[0]))
        return len(rest) == 2 and isinstance(node, ast.ClassDef) and _defined(node.body, rest[1]) is not None
    return False


def missing(tokens: list[str]) -> list[str]:
    """The paths and dotted rewardlab names among `tokens` that do not exist."""
    out = []
    for t in tokens:
        if re.fullmatch(r"(src|tests|docs)/[\w/.]*", t):
            if not (ROOT / t).exists():
                out.append(t)
        elif re.fullmatch(r"rewardlab(\.\w+)+", t) and not FILE_NAME.search(t) and not name_exists(t):
            out.append(t)
    return out


def layers(text: str) -> dict[str, int]:
    """rewardlab.<unit> -> layer number, from the rows of the layer table ("| 3 stages | `train`, ... |")."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        m = re.match(r"\| (\d+) [^|]*\| ([^|]*)\|", line)
        if m:
            for unit in _ticks(m.group(2)):
                assert f"rewardlab.{unit}" not in out, f"{unit} is in two layers"
                out[f"rewardlab.{unit}"] = int(m.group(1))
    return out


def units() -> set[str]:
    """The top-level packages and modules of src/rewardlab."""
    pkg = SRC / "rewardlab"
    mods = {p.stem for p in pkg.glob("*.py") if p.name != "__init__.py"}
    subs = {p.parent.name for p in pkg.glob("*/__init__.py")}
    return {f"rewardlab.{u}" for u in mods | subs}


def _allowed(edge: tuple[str, str], upward: set[tuple[str, str]]) -> bool:
    def within(m: str, prefix: str) -> bool:
        return m == prefix or m.startswith(prefix + ".")

    return any(within(edge[0], a) and within(edge[1], b) for a, b in upward)


def test_every_path_and_name_in_the_doc_exists():
    tokens = _ticks(DOC.read_text())
    assert len([t for t in tokens if t.startswith("rewardlab.")]) > 100  # the doc names code; the parse found it
    assert missing(tokens) == []


def test_the_checker_tells_real_names_from_made_up_ones():
    real = ["rewardlab.stats.metrics.pairwise_metrics", "rewardlab.rules.Rule.needs",
            "rewardlab.serve.create_app", "rewardlab.train.losses.LOSSES", "rewardlab.data", "src/rewardlab/cli.py"]
    made_up = ["rewardlab.stats.metrics.pairwise", "rewardlab.rules.Rule.wants", "rewardlab.nope",
               "rewardlab.stats.metrics.pairwise_metrics.x.y", "src/rewardlab/nope.py"]
    assert missing(real + made_up) == made_up


def test_every_package_sits_in_one_layer():
    table = layers(DOC.read_text())
    assert set(table) == units()


def test_imports_point_down_the_layers():
    text = DOC.read_text()
    table = layers(text)
    upward = _arrows(_section(text, "### Known upward imports"))
    graph = import_graph()
    up = []
    for m, targets in graph.items():
        for t in targets:
            a, b = stage(m), stage(t)
            if a != b and "rewardlab" not in (a, b) and table[b] > table[a] and not _allowed((m, t), upward):
                up.append(f"{m} -> {t}")
    assert sorted(up) == [], "an import goes up a layer: move it, or list it under 'Known upward imports'"
    for a, b in upward:  # each listed exception is still real
        assert any(_allowed((m, t), {(a, b)}) for m, ts in graph.items() for t in ts), f"{a} -> {b} is gone"


def test_the_imports_between_stages_are_the_documented_ones():
    text = DOC.read_text()
    table = layers(text)
    documented = _arrows(_section(text, "### Imports between stages"))
    real = {(stage(m), stage(t)) for m, ts in import_graph().items() for t in ts
            if stage(m) != stage(t) and table.get(stage(m)) == table.get(stage(t)) == STAGE_LAYER}
    assert sorted(real - documented) == [], "a stage imports another: add the arrow to docs/ARCHITECTURE.md"
    assert sorted(documented - real) == [], "a documented arrow between stages is gone: remove it from the doc"
