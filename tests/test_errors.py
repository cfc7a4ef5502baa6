"""One error family: every error rewardlab reports for a bad argument is a RewardlabError, and that is a ValueError."""

from __future__ import annotations

import numpy as np
import pytest

from rewardlab.config import ConfigError
from rewardlab.errors import DataValidationError, Issue, RewardlabError


def test_the_family_is_a_value_error() -> None:
    assert issubclass(RewardlabError, ValueError)
    assert issubclass(ConfigError, RewardlabError) and issubclass(DataValidationError, RewardlabError)
    err = DataValidationError([Issue("f.jsonl", 3, "chosen", "missing")], n_records=5)
    with pytest.raises(ValueError, match="f.jsonl:3: chosen: missing"):
        raise err


@pytest.mark.parametrize("call", [
    lambda: __import__("rewardlab.rules", fromlist=["x"]).parse_rule("quantile:1.5"),
    lambda: __import__("rewardlab.optimize.curves", fromlist=["x"]).bon_expected(np.ones((2, 3)), np.ones((2, 3)), [0]),
    lambda: __import__("rewardlab.stats.bootstrap", fromlist=["x"]).bootstrap_ci(np.mean, [1.0, 2.0], [1.0]),
    lambda: __import__("rewardlab.stats.agreement", fromlist=["x"]).cohen_kappa([1, 0], [1]),
    lambda: __import__("rewardlab.simulate", fromlist=["x"]).SimConfig(flip_prob=2),
    lambda: __import__("rewardlab.simulate", fromlist=["x"]).simulate_pairs(-1),
    lambda: __import__("rewardlab.train.losses", fromlist=["x"]).get_loss("gaussian", anchor_lambda=-1.0),
])
def test_argument_checks_raise_the_family(call) -> None:
    """Hand-written argument checks in the numeric layers raise RewardlabError (caught by either family)."""
    with pytest.raises(RewardlabError):
        call()
