"""`rewardlab optimize` with the new methods and reward options: runs and reports; mistakes are one-line errors."""

from __future__ import annotations

import json

import pytest

from rewardlab.cli import main
from rewardlab.policy.simpolicy import SimPolicy
from rewardlab.policy.winrate import win_rate


def test_reward_conditioning_on_an_ensemble_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "rc"
    with pytest.raises(SystemExit) as e:
        main(["optimize", "--method", "reward-conditioning", "--reward", "annotator:length=0;annotator:length=2",
              "--select", "uwo:0.5", "--steps", "6", "--batch-prompts", "4", "--n-prompts", "16", "--no-plot",
              "-o", str(out)])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert "reward-conditioning against annotator:length=0;annotator:length=2 (uwo:0.5)" in text
    assert " win " in text.splitlines()[1]
    res = json.loads((out / "optimize.json").read_text())
    final = SimPolicy.load(out / "policy.json")
    assert res["final"]["win_rate"] == pytest.approx(win_rate(final, SimPolicy.from_base("default")), abs=1e-12)
    assert set(res["records"][-1]["control"]) >= {"correct", "sycophantic"}


@pytest.mark.parametrize(("args", "message"), [
    (["--reward", "gold", "--select", "min"], "--select min: the reward gold has no std or members"),
    (["--reward", "gold", "--select", "best"], "--select: "),
    (["--reward", "annotator:human_like", "--rm-update-every", "5"], "--rm-update-every 5: the reward"),
    (["--reward", "gold", "--method", "sft", "--sft-reference", "sys-q"], "--sft-reference: base policy 'sys-q'"),
    (["--reward", "gold", "--rm-annotator", "shy"], "--rm-annotator"),
    (["--reward", "bow:human_like:x"], "N and SEED must be integers"),
])
def test_new_option_mistakes_are_one_line_errors(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as e:
        main(["optimize", "-o", str(tmp_path / "o"), "--steps", "1", *args])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
