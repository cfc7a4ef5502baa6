"""report.html picks up a policy-optimisation run in an `optimize/` subfolder (where the demo writes it), with its
plot embedded; an optimize.json in the folder itself still wins."""

from __future__ import annotations

import pytest

from rewardlab.errors import RewardlabError
from rewardlab.policy.loop import OptimizeSpec, run
from rewardlab.report import build_report

SMALL = {"steps": 2, "batch_prompts": 4, "group": 4, "n_prompts": 16}


def test_optimize_subfolder_is_a_report_section(tmp_path):
    with pytest.raises(RewardlabError, match="no metrics.json"):
        build_report(tmp_path)
    run(OptimizeSpec(reward="gold", output=str(tmp_path / "optimize"), **SMALL))
    html = build_report(tmp_path).read_text()
    assert "Policy optimisation against the reward model" in html and "2 steps" in html
    assert html.count("data:image/png;base64,") == 1  # optimize/optimize.png


def test_optimize_json_in_the_folder_itself_wins(tmp_path):
    run(OptimizeSpec(reward="gold", output=str(tmp_path / "optimize"), plot=False, **SMALL))
    run(OptimizeSpec(reward="annotator:length=3", output=str(tmp_path), plot=False, **SMALL))
    html = build_report(tmp_path).read_text()
    assert "against annotator:length=3" in html and "against gold" not in html
