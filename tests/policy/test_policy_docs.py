"""The examples in the policy lab's docstrings run (loop, rewards, bag-of-words RM, win rate, comparison, robust)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["rewardlab.policy.loop", "rewardlab.policy.rewards", "rewardlab.policy.bow_rm",
           "rewardlab.policy.winrate", "rewardlab.policy.compare", "rewardlab.policy.robust",
           "rewardlab.policy.neural_rm"]


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples_pass(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS, report=False)
    assert result.attempted > 0, f"{module}: no examples found"
    assert result.failed == 0, f"{module}: {result.failed} of {result.attempted} examples failed (see stdout)"
