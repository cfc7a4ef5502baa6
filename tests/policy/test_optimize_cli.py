"""`rewardlab optimize`: the command built from OptimizeSpec runs the loop and reports; mistakes are one line."""

from __future__ import annotations

import json

import pytest

from rewardlab.cli import main


def test_optimize_command_writes_curves_and_reports(tmp_path, capsys):
    out = tmp_path / "opt"
    with pytest.raises(SystemExit) as e:
        main(["optimize", "--reward", "annotator:human_like", "--method", "expert-iteration", "--steps", "6",
              "--group", "4", "--batch-prompts", "4", "--n-prompts", "16", "--no-plot", "-o", str(out)])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert "expert-iteration against annotator:human_like from base default: 6 steps" in text
    assert "sweet spot" in text and "final" in text
    res = json.loads((out / "optimize.json").read_text())
    assert res["schema"] == "rewardlab.optimize_policy/1" and len(res["records"]) == 7
    assert res["spec"]["group"] == 4 and res["sweet_spot"]["gold"] == max(r["gold"] for r in res["records"])
    # the report's optimisation section shows the three key steps with the exact gold the JSON holds
    html = (out / "report.html").read_text()
    assert "Policy optimisation against the reward model" in html
    for key in ("sweet_spot", "final"):
        assert f"<td class=num>{res[key]['gold']:.3f}</td>" in html


@pytest.mark.parametrize(("args", "message"), [
    (["--method", "ppo"], "--method"),
    (["--reward", "gold", "--group", "1"], "--group must be >= 2 for grpo"),
    (["--reward", "gold", "--base", "sys-q"], "base policy 'sys-q': unknown"),
])
def test_optimize_mistakes_are_one_line_errors(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as e:
        main(["optimize", "-o", str(tmp_path / "o"), "--steps", "1", *args])
    assert e.value.code == 2
    assert message in capsys.readouterr().err
