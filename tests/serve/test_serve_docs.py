"""The serving and adapter modules: every public entry point documents Args, Returns and an Example, and the
examples in their docstrings run."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["rewardlab.serve.spec", "rewardlab.serve.engine", "rewardlab.serve.metrics", "rewardlab.serve.identity",
           "rewardlab.serve.app", "rewardlab.serve.server", "rewardlab.scoring.client", "rewardlab.integrations.trl",
           "rewardlab.integrations.verl", "rewardlab.integrations.openrlhf"]
ENTRY_POINTS = [("rewardlab.serve.app", "create_app"), ("rewardlab.serve.server", "run_server"),
                ("rewardlab.serve.spec", "check_bind"), ("rewardlab.serve.identity", "render_spec_hash"),
                ("rewardlab.scoring.client", "RewardClient.score"), ("rewardlab.integrations.verl", "compute_score"),
                ("rewardlab.integrations.openrlhf", "reward_func")]
CLASSES = [("rewardlab.serve.spec", "ServeSpec"), ("rewardlab.scoring.client", "RewardClient"),
           ("rewardlab.scoring.client", "AsyncRewardClient"), ("rewardlab.serve.server", "BackgroundServer"),
           ("rewardlab.integrations.trl", "RewardFunction"), ("rewardlab.integrations.trl", "AsyncRewardFunction")]


@pytest.mark.parametrize(("module", "name"), ENTRY_POINTS)
def test_entry_points_are_documented(module, name):
    obj = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    for section in ("Args:", "Returns:", "Example"):
        assert section in (obj.__doc__ or ""), f"{module}.{name}: no {section!r} section"


@pytest.mark.parametrize(("module", "name"), CLASSES)
def test_classes_have_examples(module, name):
    assert "Example" in (getattr(importlib.import_module(module), name).__doc__ or "")


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_pass(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS, report=False)
    assert result.attempted > 0 and result.failed == 0, f"{module}: {result.failed} of {result.attempted} failed"
