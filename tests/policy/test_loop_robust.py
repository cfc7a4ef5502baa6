"""--method drro and --advantage tea in the optimisation loop: runs complete, log every step and raise gold."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rewardlab.config import ConfigError
from rewardlab.policy.loop import OptimizeSpec, run

SMALL = {"batch_prompts": 8, "group": 4, "n_prompts": 64, "plot": False}


@pytest.mark.parametrize("extra", [{"method": "drro", "drro_eps": 0.5},
                                   {"method": "grpo", "advantage": "tea", "bon_n": 16}])
def test_robust_methods_run_log_and_raise_gold(tmp_path, extra):
    res = run(OptimizeSpec(reward="gold", output=str(tmp_path), steps=20, **SMALL, **extra))
    lines = [json.loads(x) for x in (tmp_path / "steps.jsonl").read_text().splitlines()]
    assert len(lines) == 21 and [x["step"] for x in lines] == list(range(21))
    gold = np.array([r["gold"] for r in res.records])
    assert gold[-5:].mean() > gold[:5].mean() + 0.01 and res.final["kl"] > 0.0


def test_drro_with_zero_eps_is_grpo(tmp_path):
    a = run(OptimizeSpec(reward="gold", output=str(tmp_path / "a"), steps=5, method="drro", drro_eps=0.0, **SMALL))
    b = run(OptimizeSpec(reward="gold", output=str(tmp_path / "b"), steps=5, method="grpo", **SMALL))
    assert [r["gold"] for r in a.records] == pytest.approx([r["gold"] for r in b.records], abs=1e-12)
    c = run(OptimizeSpec(reward="gold", output=str(tmp_path / "c"), steps=5, method="drro", drro_eps=1.0, **SMALL))
    assert c.records[-1]["gold"] != pytest.approx(b.records[-1]["gold"], abs=1e-9)


def test_robust_options_are_checked():
    with pytest.raises(ConfigError, match="advantage"):
        OptimizeSpec(reward="gold", output="o", method="reinforce", advantage="tea")
    with pytest.raises(ConfigError, match="group"):
        OptimizeSpec(reward="gold", output="o", method="drro", group=1)
