"""Every public name of `rewardlab` is documented (Args/Returns/Example) and the examples in its docstrings run."""

from __future__ import annotations

import doctest
import importlib
import inspect
from pathlib import Path
from typing import Any

import pytest

import rewardlab

# `rewardlab.train` and `rewardlab.audit` are subpackages that run their stage when called: check what they call
CALLED = {"train": ("rewardlab.train.trainer", "train"), "audit": ("rewardlab.audit.run", "run_audit")}
PUBLIC = [name for name in rewardlab.__all__ if name != "__version__"]
METHODS = [("ModelScorer", "score"), ("CallableScorer", "score"), ("HTTPScorer", "score"),
           ("RewardOutput", "pessimistic")]
# every module whose docstrings hold an example (">>>"): the examples are the documentation, so none may rot
SRC = Path(rewardlab.__file__).parent
DOCTEST_MODULES = sorted(
    "rewardlab" + ("." + ".".join(f.relative_to(SRC).with_suffix("").parts) if f.name != "__init__.py"
                   or f.parent != SRC else "").removesuffix(".__init__")
    for f in SRC.rglob("*.py") if ">>>" in f.read_text())


def resolve(name: str) -> Any:
    if name in CALLED:
        module, attr = CALLED[name]
        return getattr(importlib.import_module(module), attr)
    return getattr(rewardlab, name)


def check_function_doc(qualname: str, doc: str) -> None:
    for section in ("Args:", "Returns:", "Example"):
        assert section in doc, f"{qualname}: the docstring has no {section!r} section"


@pytest.mark.parametrize("name", PUBLIC)
def test_public_name_is_documented(name: str) -> None:
    obj = resolve(name)
    doc = obj.__doc__ or ""  # not inspect.getdoc: a class must not pass on its base class's docstring
    assert "Example" in doc, f"rewardlab.{name}: the docstring has no Example section"
    if inspect.isfunction(obj):
        check_function_doc(f"rewardlab.{name}", doc)


@pytest.mark.parametrize(("cls", "method"), METHODS)
def test_public_method_is_documented(cls: str, method: str) -> None:
    check_function_doc(f"rewardlab.{cls}.{method}", getattr(getattr(rewardlab, cls), method).__doc__ or "")


def test_train_and_audit_are_callable_stages() -> None:
    assert callable(rewardlab.train) and callable(rewardlab.audit)
    assert rewardlab.audit.run_audit is resolve("audit")


@pytest.mark.parametrize("module", DOCTEST_MODULES)
def test_docstring_examples_pass(module: str) -> None:
    mod = importlib.import_module(module)  # not `import a.b.c`: rewardlab.eval.evaluate is also a function name
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS, report=False)
    assert result.failed == 0, f"{module}: {result.failed} of {result.attempted} examples failed (see stdout)"
