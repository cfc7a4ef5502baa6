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


def lazy_package(package: str, exports: dict[str, tuple[str, ...]],
                 subpackages: tuple[str, ...] = ()) -> tuple[list[str], Any, Any]:
    """The public names, `__getattr__` and `__dir__` of a package whose names are imported on first use.

    Args:
        package: the package's `__name__`.
        exports: {module: (name, ...)}: each public name and the module it comes from, in the order `__all__`
            lists them; "public=attribute" exports a module's attribute under another name.
        subpackages: names of subpackages that `__getattr__` imports when asked for (`rewardlab.train`).

    Returns:
        tuple: (the exported names in order, the module `__getattr__`, the module `__dir__`: the module's globals
        and its `__all__`).

    Example:
        >>> names, getattr_, dir_ = lazy_package("rewardlab", {"rewardlab.errors": ("RewardlabError",)})
        >>> names, getattr_("RewardlabError").__name__
        (['RewardlabError'], 'RewardlabError')
        >>> names, getattr_, dir_ = lazy_package("rewardlab", {"rewardlab.errors": ("Error=RewardlabError",)})
        >>> names, getattr_("Error").__name__
        (['Error'], 'RewardlabError')
    """
    table = {}
    for module, names in exports.items():
        for entry in names:
            public, _, attr = entry.partition("=")
            table[public] = (module, attr or public)
    lazy = lazy_attributes(package, table)

    def __getattr__(name: str) -> Any:
        if name in subpackages:
            return importlib.import_module(f"{package}.{name}")
        return lazy(name)

    def __dir__() -> list[str]:
        module = sys.modules[package]
        return sorted(set(vars(module)) | set(getattr(module, "__all__", ())))

    return list(table), __getattr__, __dir__
