"""Subpackages that run their stage when called: `rewardlab.train(cfg)` and `rewardlab.audit(scorer, ...)`.

`train` and `audit` are both a stage (a subpackage) and its entry point in the public API. Making the subpackage
module callable keeps `from rewardlab import train` meaning one thing whichever was imported first.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any


def make_callable(package: str, module: str, function: str) -> None:
    """Let `package` (a module in sys.modules) be called as `module.function`; the function's docstring is shown
    by `help(package.__call__)`."""

    class CallablePackage(types.ModuleType):
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return getattr(importlib.import_module(module), function)(*args, **kwargs)

    CallablePackage.__call__.__doc__ = f"Run `{module}.{function}` (see its docstring)."
    sys.modules[package].__class__ = CallablePackage


def lazy_attributes(package: str, table: dict[str, tuple[str, str]]) -> Any:
    """A module `__getattr__` that imports `table[name] = (module, attribute)` on first use and caches it, so a
    package can list its public names without importing numpy or torch when it is imported."""

    def __getattr__(name: str) -> Any:
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attr = table[name]
        value = getattr(importlib.import_module(module), attr)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
