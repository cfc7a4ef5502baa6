"""The command line: data commands, exit codes, no tracebacks for bad input, --help everywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import run_cli


def run(*args, check=True, isolated=False):
    """`rewardlab ARGS`: in this process (conftest.run_cli), or with isolated=True as `python -m rewardlab` in a
    new interpreter (the real entry point; seconds more per call)."""
    if not isolated:
        return run_cli(*args, check=check)
    proc = subprocess.run([sys.executable, "-m", "rewardlab", *args], capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def test_simulate_is_deterministic_and_stats_reports_length_baseline(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    run("data", "simulate", "--kind", "pairs", "-n", "300", "--seed", "1", "--length-bias", "2", "-o", str(a))
    run("data", "simulate", "--kind", "pairs", "-n", "300", "--seed", "1", "--length-bias", "2", "-o", str(b))
    assert a.read_bytes() == b.read_bytes()
    out = run("data", "stats", str(a), "--tokenizer", "none", "-o", str(tmp_path / "s.json")).stdout
    assert "longer response wins (chars)" in out and "n_pairs: 300" in out
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["longer_wins"]["chars"]["rate"] > 0.5
    assert set(stats["longer_wins_by_category"]) == {"advice", "arithmetic", "facts", "false_premise", "units"}


@pytest.mark.parametrize("kind", ["pools", "battles", "sycophancy"])
def test_simulate_other_kinds(tmp_path, kind):
    out = tmp_path / f"{kind}.jsonl"
    run("data", "simulate", "--kind", kind, "-n", "20", "-o", str(out))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 20
    if kind != "sycophancy":
        assert "valid" in run("data", "check", str(out)).stdout


def test_bad_file_exits_2_naming_every_line_without_traceback(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x", "chosen": "a"}\nnot json\n')
    proc = run("data", "check", str(bad), check=False, isolated=True)  # the real `python -m rewardlab` entry
    assert proc.returncode == 2
    assert f"{bad}:1: rejected: missing" in proc.stderr
    assert f"{bad}:2: <line>: broken JSON" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run("data", "check", str(bad), "--on-invalid", "skip", check=False)
    assert proc.returncode == 0 and "skipped 2 invalid record(s)" in proc.stderr


def test_convert_round_trip_and_missing_file(tmp_path):
    src = tmp_path / "p.jsonl"
    run("data", "simulate", "-n", "30", "-o", str(src))
    run("data", "convert", str(src), str(tmp_path / "p.parquet"))
    run("data", "convert", str(tmp_path / "p.parquet"), str(tmp_path / "q.jsonl"))
    from rewardlab.data import load_data

    assert [r.to_dict() for r in load_data(str(src)).records] == \
        [r.to_dict() for r in load_data(str(tmp_path / "q.jsonl")).records]
    proc = run("data", "stats", str(tmp_path / "missing.jsonl"), check=False)
    assert proc.returncode == 2 and "no such file" in proc.stderr and "Traceback" not in proc.stderr


def test_every_command_has_help():
    """The installed console script answers --help; every command's help renders (in-process: 1 s, not 25)."""
    from typer.testing import CliRunner

    from rewardlab.cli import app

    assert "Usage" in run("--help").stdout
    for cmd in (["data", "--help"], ["data", "check", "--help"], ["data", "stats", "--help"],
                ["data", "convert", "--help"], ["data", "simulate", "--help"], ["train", "--help"],
                ["score", "--help"], ["eval", "--help"], ["report", "--help"], ["compare", "--help"],
                ["export", "--help"], ["audit", "--help"], ["demo", "--help"], ["bon", "--help"],
                ["goodhart", "--help"], ["generate", "--help"], ["serve", "--help"]):
        res = CliRunner().invoke(app, cmd)
        assert res.exit_code == 0 and "Usage" in res.stdout, (cmd, res.output)


def test_user_errors_in_train_and_eval_are_clear(tmp_path):
    proc = run("train", "--loss", "nope", "--output", str(tmp_path / "x"), check=False)
    assert proc.returncode == 2 and "--loss must be one of" in proc.stderr
    proc = run("report", str(tmp_path), check=False)
    assert proc.returncode == 2 and "no metrics.json" in proc.stderr
    # `eval` itself: a missing data file and a model that is not there, each one line on stderr, exit 2
    proc = run("eval", "--model", str(tmp_path / "no-model"), "--data", str(tmp_path / "missing.jsonl"),
               "--output", str(tmp_path / "e"), check=False)
    assert proc.returncode == 2 and "missing.jsonl: no such file" in proc.stderr and "Traceback" not in proc.stderr
    from rewardlab.data import write_records
    from rewardlab.simulate import simulate_pairs

    write_records(simulate_pairs(4), str(tmp_path / "p.jsonl"))
    proc = run("eval", "--model", str(tmp_path / "no-model"), "--data", str(tmp_path / "p.jsonl"),
               "--output", str(tmp_path / "e"), check=False)
    assert proc.returncode == 2 and "cannot load a model from" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "e" / "metrics.json").exists()


def test_layout_flags_train_and_score_agree(tmp_path, tiny_decoder):
    """--pack-pairs --no-prefix-sharing trains on packed rows; scoring with and without prefix sharing gives the
    same rewards."""
    out = tmp_path / "rm"
    proc = run("train", "--model", tiny_decoder, "--sim-n", "40", "--max-steps", "2", "--batch-size", "8",
               "--pack-pairs", "--no-prefix-sharing", "--eval-split", "0.2", "--output", str(out))
    assert "pair layout: packed" in proc.stderr
    run("data", "simulate", "-n", "12", "--output", str(tmp_path / "p.jsonl"))
    scores = {}
    for flag in ("--prefix-sharing", "--no-prefix-sharing"):
        dest = tmp_path / f"s{flag}.jsonl"
        run("score", "--model", str(out), "--data", str(tmp_path / "p.jsonl"), "--output", str(dest), flag)
        scores[flag] = [json.loads(line)["reward"] for line in open(dest)]
    assert len(scores["--prefix-sharing"]) == 24
    assert scores["--prefix-sharing"] == pytest.approx(scores["--no-prefix-sharing"], abs=1e-4)
    # and both equal the trained model scored directly, one (prompt, response) at a time
    want = _direct_rewards(str(out), _expected_items(tmp_path / "p.jsonl"))
    assert scores["--prefix-sharing"] == pytest.approx(want, abs=1e-4)


def _rows(path):
    return [json.loads(line) for line in open(path)]


def _expected_items(path):
    """(id, role, prompt, response) of every response of a pairs file, in file order, read as plain JSON."""
    items = []
    for r in _rows(path):
        items += [(r["id"], "chosen", r["prompt"], r["chosen"]), (r["id"], "rejected", r["prompt"], r["rejected"])]
    return items


def _direct_rewards(model_path, items):
    """ModelScorer.score on each (prompt, response) alone: no batching, no prefix sharing."""
    from rewardlab.models import load
    from rewardlab.scoring.base import ModelScorer

    scorer = ModelScorer(load(model_path), prefix_sharing=False)
    return [float(scorer.score([p], [r], progress=False).mean[0]) for _, _, p, r in items]


def test_score_and_eval_commands_agree_with_direct_scoring(tmp_path, tiny_rm):
    """`score` rows line up with the input and with ModelScorer.score item by item; `eval` writes the same
    rewards, accuracy from them, and its report."""
    data = tmp_path / "p.jsonl"
    run("data", "simulate", "-n", "12", "--seed", "3", "--output", str(data))
    items = _expected_items(data)
    want = _direct_rewards(tiny_rm, items)
    assert len(set(want)) == len(want)  # distinct rewards: a shifted row would not match by chance
    run("score", "--model", tiny_rm, "--data", str(data), "--output", str(tmp_path / "s.jsonl"))
    rows = _rows(tmp_path / "s.jsonl")
    assert [(r["id"], r["role"], r["prompt"], r["response"]) for r in rows] == items
    assert [r["reward"] for r in rows] == pytest.approx(want, abs=1e-4)

    proc = run("eval", "--model", tiny_rm, "--data", str(data), "--output", str(tmp_path / "ev"),
               "--n-resamples", "50")
    assert "report:" in proc.stdout and (tmp_path / "ev" / "report.html").exists()
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())["datasets"]["p"]
    ev = _rows(tmp_path / "ev" / "scores_p.jsonl")
    assert [r["id"] for r in ev] == [it[0] for it in items[::2]]
    assert [r["reward_chosen"] for r in ev] == pytest.approx(want[::2], abs=1e-4)
    assert [r["reward_rejected"] for r in ev] == pytest.approx(want[1::2], abs=1e-4)
    # every label prefers `chosen` (one annotator, no ties): accuracy is the share with r_chosen > r_rejected
    acc = sum(c > r for c, r in zip(want[::2], want[1::2], strict=True)) / 12
    assert metrics["n"] == 12 and metrics["accuracy"]["estimate"] == pytest.approx(acc)
    lo, hi = metrics["accuracy"]["lo"], metrics["accuracy"]["hi"]
    assert lo <= acc <= hi


def test_export_command_writes_a_plain_hf_model_of_the_mean_reward(tmp_path, tiny_decoder):
    """`export --mean-only` from the command line: a plain AutoModelForSequenceClassification whose one output is
    the ensemble's mean reward; without --mean-only it refuses (exit 2)."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from conftest import perturbed_model, rewards
    from rewardlab.batching import pad_batch
    from rewardlab.models import HeadSpec, save_checkpoint

    lm = perturbed_model(tiny_decoder, HeadSpec("ensemble", 3, True), seed=4, scale=0.3)
    src = save_checkpoint(lm, tmp_path / "ens")
    dst = tmp_path / "plain"
    proc = run("export", src, str(dst), check=False)
    assert proc.returncode == 2 and "--mean-only" in proc.stderr and not dst.exists()
    run("export", src, str(dst), "--mean-only")
    prompts, responses = ["What is 2+2?", "Hi there"], ["4", "Hello! How can I help you today?"]
    mean = rewards(lm, prompts, responses)["mean"]
    hf = AutoModelForSequenceClassification.from_pretrained(dst).eval()
    assert hf.config.num_labels == 1
    enc = lm.renderer.encode(prompts, responses)
    with torch.no_grad():
        logits = torch.cat([hf(**pad_batch([e["input_ids"]], lm.tokenizer.pad_token_id)).logits for e in enc])
    torch.testing.assert_close(logits[:, 0], mean, atol=1e-5, rtol=0)
    assert float((mean[0] - mean[1]).abs()) > 1e-3
    meta = json.loads((dst / "rewardlab.json").read_text())
    assert meta["head"] == "scalar" and meta["exported_from"] == os.path.abspath(src)


def test_score_eval_audit_accept_device_cpu_with_the_same_rewards(tmp_path, tiny_rm):
    """An explicit --device cpu takes the same path as the default on a CPU machine: identical rewards."""
    from typer.testing import CliRunner

    from rewardlab.cli import app

    runner = CliRunner()
    data = tmp_path / "p.jsonl"
    run("data", "simulate", "-n", "12", "--output", str(data))

    def invoke(*args):
        res = runner.invoke(app, list(args))
        assert res.exit_code == 0, res.output
        return res

    out = {}
    for tag, extra in (("default", []), ("cpu", ["--device", "cpu"])):
        d = tmp_path / tag
        invoke("score", "--model", tiny_rm, "--data", str(data), "--output", str(d / "s.jsonl"), *extra)
        invoke("eval", "--model", tiny_rm, "--data", str(data), "--output", str(d / "eval"), "--n-resamples", "20",
               "--no-report", *extra)
        invoke("audit", "--model", tiny_rm, "--data", str(data), "--output", str(d / "audit"), "--n-resamples", "20",
               *extra)
        out[tag] = (_rows(d / "s.jsonl"), _rows(d / "eval" / "scores_p.jsonl"),
                    json.loads((d / "audit" / "audit.json").read_text()))
    (s0, e0, a0), (s1, e1, a1) = out["default"], out["cpu"]
    assert len(s0) == 24 and [r["reward"] for r in s0] == pytest.approx([r["reward"] for r in s1], abs=1e-6)
    assert len(e0) == 12 and e0 == e1
    assert a0["length_control"]["accuracy"] == a1["length_control"]["accuracy"]
    assert a0["probes"] == a1["probes"]
    res = runner.invoke(app, ["score", "--model", tiny_rm, "--data", str(data), "--output", str(tmp_path / "x"),
                              "--device", "gpu0"])
    assert res.exit_code != 0 and "is not a device" in str(res.exception or res.output)


def _torchrun(*args, port: int):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
           "-m", "rewardlab", *args, "--device", "cpu"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.slow
def test_score_and_eval_under_torchrun_equal_single_process(tmp_path, tiny_rm):
    """torchrun --nproc_per_node 2 (gloo): each rank scores its share, rank 0 writes rows equal to the
    single-process output, row for row; eval writes the same scores and statistics."""
    data = tmp_path / "pools.jsonl"
    run("data", "simulate", "--kind", "pools", "-n", "15", "-k", "4", "--output", str(data))
    run("score", "--model", tiny_rm, "--data", str(data), "--output", str(tmp_path / "one.jsonl"))
    proc = _torchrun("score", "--model", tiny_rm, "--data", str(data), "--output", str(tmp_path / "two.jsonl"),
                     port=29541)
    assert "scored 60 responses across 2 processes (shares: 32, 28)" in proc.stderr  # 15 prompts x 4: 30 moves to 32
    one, two = _rows(tmp_path / "one.jsonl"), _rows(tmp_path / "two.jsonl")
    assert len(one) == len(two) == 60
    for a, b in zip(one, two, strict=True):
        assert (a["id"], a["role"], a["prompt"], a["response"]) == (b["id"], b["role"], b["prompt"], b["response"])
        assert a["reward"] == pytest.approx(b["reward"], abs=1e-5)
    pairs = tmp_path / "pairs.jsonl"
    run("data", "simulate", "-n", "20", "--output", str(pairs))
    run("eval", "--model", tiny_rm, "--data", str(pairs), "--output", str(tmp_path / "e1"), "--n-resamples", "50",
        "--no-report")
    _torchrun("eval", "--model", tiny_rm, "--data", str(pairs), "--output", str(tmp_path / "e2"),
              "--n-resamples", "50", "--no-report", port=29542)
    e1, e2 = (json.loads((tmp_path / d / "metrics.json").read_text())["datasets"]["pairs"] for d in ("e1", "e2"))
    assert e1["n"] == e2["n"] == 20
    assert e1["accuracy"]["estimate"] == e2["accuracy"]["estimate"]
    r1, r2 = _rows(tmp_path / "e1" / "scores_pairs.jsonl"), _rows(tmp_path / "e2" / "scores_pairs.jsonl")
    for key in ("reward_chosen", "reward_rejected"):
        assert [r[key] for r in r1] == pytest.approx([r[key] for r in r2], abs=1e-5)
