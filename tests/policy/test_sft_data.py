"""AlpacaFarm's SFT-data builders (`rewardlab data build`): every pick against a brute-force argmax of the same
rewards, expert-iteration's kept prompts against a rank count, chained rounds, FeedME and reward conditioning
against the pairs themselves, the errors, and TRL's SFTTrainer training 2 steps on what the builders wrote (loaded
from the output folder as `trl sft --dataset_name FOLDER` loads it)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from conftest import run_cli
from rewardlab import CallableScorer
from rewardlab.data import write_records
from rewardlab.data.spec import DataSpec
from rewardlab.errors import RewardlabError
from rewardlab.policy.sft_data import SFTBuildSpec, build_sft_data, condition_prompt, keep_top_prompts
from rewardlab.simulate.stage import simulate_kind


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def pools(tmp_path_factory) -> tuple[Path, list[dict]]:
    rows = simulate_kind("pools", n=40, seed=5, k=6)
    path = tmp_path_factory.mktemp("pools") / "pools.jsonl"
    write_records(rows, str(path))
    return path, rows


def _gold_scorer(rows: list[dict]) -> CallableScorer:
    """A reward model that returns the simulator's gold utility of each (prompt, response)."""
    table = {(r["prompt"], c): s for r in rows for c, s in zip(r["responses"], r["scores"], strict=True)}
    return CallableScorer(lambda prompt, response: table[(prompt, response)], name="gold")


def _argmax(values: list[float]) -> int:
    best = 0
    for j, v in enumerate(values):
        if v > values[best]:
            best = j
    return best


def test_best_of_n_writes_each_prompts_argmax(pools, tmp_path):
    path, rows = pools
    out = tmp_path / "bon" / "train.jsonl"
    res = build_sft_data(SFTBuildSpec(method="best-of-n", output=str(out), model="gold",
                                      data=DataSpec(source=str(path))), scorer=_gold_scorer(rows), progress=False)
    got = _read(out)
    assert res.rows_written == len(got) == len(rows) and res.style == "standard"
    for row, rec in zip(got, rows, strict=True):
        j = _argmax(rec["scores"])
        assert row["prompt"] == rec["prompt"] and row["completion"] == rec["responses"][j]
        assert row["index"] == j and row["reward"] == rec["scores"][j] and row["id"] == rec["id"]
    assert res.reward_mean_all == pytest.approx(sum(max(r["scores"]) for r in rows) / len(rows))
    # -n 2: the best of the first two candidates only
    res2 = build_sft_data(SFTBuildSpec(method="best-of-n", output=str(tmp_path / "b2.jsonl"), model="gold",
                                       n_candidates=2, data=DataSpec(source=str(path))),
                          scorer=_gold_scorer(rows), progress=False)
    got2 = _read(tmp_path / "b2.jsonl")
    assert res2.rows_written == len(rows)
    assert [g["completion"] for g in got2] == [r["responses"][_argmax(r["scores"][:2])] for r in rows]


def test_keep_top_prompts_equals_a_rank_count():
    import random

    rnd = random.Random(0)
    for _ in range(300):
        p = rnd.randint(1, 12)
        best = [rnd.choice([0.0, 0.5, 1.0, 1.5, rnd.random()]) for _ in range(p)]  # ties are common
        frac = rnd.choice([0.1, 0.25, 0.5, 0.75, 1.0, rnd.random() or 1.0])
        floor = rnd.choice([None, 0.5, 1.0])
        k = math.ceil(frac * p - 1e-9)
        # prompt i is in the top k when fewer than k prompts rank above it (higher, or equal and earlier)
        want = [i for i in range(p)
                if sum(best[j] > best[i] or (best[j] == best[i] and j < i) for j in range(p)) < k
                and (floor is None or best[i] >= floor)]
        assert keep_top_prompts(best, frac, floor) == want


def test_expert_iteration_rounds_chain_through_files(pools, tmp_path):
    path, rows = pools
    scorer = _gold_scorer(rows)
    r1 = tmp_path / "ei1" / "train.jsonl"
    res1 = build_sft_data(SFTBuildSpec(method="expert-iteration", output=str(r1), model="gold", keep_top=0.25,
                                       data=DataSpec(source=str(path))), scorer=scorer, progress=False)
    best = [max(r["scores"]) for r in rows]
    kept = keep_top_prompts(best, 0.25)
    got1 = _read(r1)
    assert res1.round == 1 and res1.rows_written == len(got1) == math.ceil(0.25 * len(rows)) == len(kept)
    assert [g["id"] for g in got1] == [rows[i]["id"] for i in kept] and {g["round"] for g in got1} == {1}
    assert min(g["reward"] for g in got1) == res1.threshold >= sorted(best)[-len(kept)]
    assert res1.skipped == {"prompts below the cut": len(rows) - len(kept)}
    assert res1.reward_mean_kept == pytest.approx(sum(best[i] for i in kept) / len(kept))

    # round 2 (here on the same pools; in practice pools sampled from the policy fine-tuned on round 1)
    r2 = tmp_path / "ei2" / "train.jsonl"
    res2 = build_sft_data(SFTBuildSpec(method="expert-iteration", output=str(r2), model="gold", min_reward=3.0,
                                       previous=str(r1), data=DataSpec(source=str(path))),
                          scorer=scorer, progress=False)
    got2 = _read(r2)
    assert res2.round == 2 and res2.rows_previous == len(got1)
    assert got2[:len(got1)] == got1
    assert [g["id"] for g in got2[len(got1):]] == [r["id"] for r, b in zip(rows, best, strict=True) if b >= 3.0]
    assert {g["round"] for g in got2[len(got1):]} == {2}

    with pytest.raises(RewardlabError, match="--round 1: .* already holds round 1"):
        build_sft_data(SFTBuildSpec(method="expert-iteration", output=str(tmp_path / "x.jsonl"), model="gold",
                                    previous=str(r1), round_number=1, data=DataSpec(source=str(path))),
                       scorer=scorer, progress=False)
    with pytest.raises(RewardlabError, match="no prompt's best reward reaches --min-reward 99"):
        build_sft_data(SFTBuildSpec(method="expert-iteration", output=str(tmp_path / "x.jsonl"), model="gold",
                                    min_reward=99.0, data=DataSpec(source=str(path))), scorer=scorer, progress=False)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "p", "completion": "c", "round": 1}\n{"prompt": "p", "completion": "c"}\n')
    with pytest.raises(RewardlabError, match=r"bad.jsonl:2: round: missing"):
        build_sft_data(SFTBuildSpec(method="expert-iteration", output=str(tmp_path / "x.jsonl"), model="gold",
                                    previous=str(bad), data=DataSpec(source=str(path))), scorer=scorer,
                       progress=False)


def _pref_file(tmp_path: Path) -> tuple[Path, list[dict]]:
    rows = simulate_kind("pairs", n=30, seed=4)
    rows[3]["tie"] = True
    rows[7]["label"] = 0.5  # annotators split evenly: a tie too
    rows[9]["label"] = 0.2  # most annotators preferred the `rejected` column
    path = tmp_path / "pairs.jsonl"
    write_records(rows, str(path))
    return path, rows


def test_feedme_keeps_each_chosen_response_and_skips_ties(tmp_path):
    path, rows = _pref_file(tmp_path)
    out = tmp_path / "fm" / "train.jsonl"
    res = build_sft_data(SFTBuildSpec(method="feedme", output=str(out), data=DataSpec(source=str(path))))
    got = _read(out)
    decided = [r for r in rows if not r.get("tie") and r.get("label") != 0.5]
    assert res.rows_written == len(got) == len(decided) == 28
    assert res.skipped == {"ties (no preferred response)": 2}
    assert [(g["prompt"], g["completion"]) for g in got] == [
        (r["prompt"], r["rejected"] if r.get("label", 1) < 0.5 else r["chosen"]) for r in decided]
    assert got[7]["completion"] == rows[9]["rejected"]  # rows 3 and 7 were skipped


def test_feedme_on_battles_takes_the_winner(tmp_path):
    battles = [{"prompt": "q1", "model_a": "x", "model_b": "y", "response_a": "A1", "response_b": "B1",
                "winner": "model_b"},
               {"prompt": "q2", "model_a": "x", "model_b": "y", "response_a": "A2", "response_b": "B2",
                "winner": "tie"},
               {"prompt": "q3", "model_a": "y", "model_b": "x", "response_a": "A3", "response_b": "B3",
                "winner": "model_a"}]
    path = tmp_path / "battles.jsonl"
    write_records(battles, str(path))
    res = build_sft_data(SFTBuildSpec(method="feedme", output=str(tmp_path / "o.jsonl"),
                                      data=DataSpec(source=str(path))))
    assert [(g["prompt"], g["completion"]) for g in _read(tmp_path / "o.jsonl")] == [("q1", "B1"), ("q3", "A3")]
    assert res.skipped == {"ties (no preferred response)": 1}


def test_reward_conditioning_doubles_the_pairs_behind_control_tokens(tmp_path):
    path, rows = _pref_file(tmp_path)
    out = tmp_path / "rc" / "train.jsonl"
    res = build_sft_data(SFTBuildSpec(method="reward-conditioning", output=str(out), data=DataSpec(source=str(path)),
                                      positive_token="[GOOD]", negative_token="[BAD]"))
    got = _read(out)
    decided = [r for r in rows if not r.get("tie") and r.get("label") != 0.5]
    assert res.rows_written == len(got) == 2 * len(decided)
    best = [(r["rejected"], r["chosen"]) if r.get("label", 1) < 0.5 else (r["chosen"], r["rejected"]) for r in decided]
    want = [row for r, (win, lose) in zip(decided, best, strict=True)
            for row in ((f"[GOOD] {r['prompt']}", win, "positive"), (f"[BAD] {r['prompt']}", lose, "negative"))]
    assert [(g["prompt"], g["completion"], g["control"]) for g in got] == want


def _chat_pairs(tmp_path: Path) -> Path:
    rows = [{"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"Question {i}?"}],
             "chosen": [{"role": "assistant", "content": f"Good answer {i}."}],
             "rejected": [{"role": "assistant", "content": f"Bad answer {i}!"}]} for i in range(8)]
    path = tmp_path / "chat.jsonl"
    write_records(rows, str(path))
    return path


def test_conversations_stay_conversations(tmp_path):
    path = _chat_pairs(tmp_path)
    out = tmp_path / "rc" / "train.jsonl"
    res = build_sft_data(SFTBuildSpec(method="reward-conditioning", output=str(out), data=DataSpec(source=str(path))))
    got = _read(out)
    assert res.style == "conversational" and len(got) == 16
    assert got[0]["prompt"] == [{"role": "system", "content": "<|good|> Be brief."},
                                {"role": "user", "content": "Question 0?"}]
    assert got[0]["completion"] == [{"role": "assistant", "content": "Good answer 0."}]
    assert got[1]["prompt"][0]["content"] == "<|bad|> Be brief." and got[1]["completion"][0]["content"] == "Bad answer 0!"
    assert condition_prompt(got[0]["prompt"][1:], "t") == [{"role": "user", "content": "t Question 0?"}]
    with pytest.raises(RewardlabError, match="--style standard, but record 0 holds a conversation"):
        build_sft_data(SFTBuildSpec(method="feedme", output=str(tmp_path / "x.jsonl"), style="standard",
                                    data=DataSpec(source=str(path))))


def test_cli_builds_and_explains_mistakes(pools, tmp_path):
    path, _ = pools
    pairs, _ = _pref_file(tmp_path)
    out = tmp_path / "cli" / "train.jsonl"
    r = run_cli("data", "build", "--method", "feedme", "--data", pairs, "-o", out, "--summary", tmp_path / "s.json")
    assert "feedme: 28 standard prompt-completion rows from 30 records" in r.stdout
    assert "skipped 2 ties (no preferred response)" in r.stdout and len(_read(out)) == 28
    assert json.loads((tmp_path / "s.json").read_text())["rows_written"] == 28
    for args, message in (
        (("--method", "best-of-n", "--data", path, "-o", out), "no reward model given (--model)"),
        (("--method", "feedme", "--data", path, "-o", out), "holds ksample data; feedme and reward-conditioning "
                                                           "need preference pairs or battles"),
        (("--method", "feedme", "--model", "x", "--data", pairs, "-o", out), "--model is for best-of-n"),
        (("--method", "feedme", "--keep-top", "0.5", "--data", pairs, "-o", out),
         "--keep-top is an expert-iteration setting"),
        (("--method", "best-of-n", "--model", "py:no_such_mod:f", "--data", path, "-o", out),
         "cannot import scorer"),
        (("--method", "dpo", "--data", pairs, "-o", out), "method must be one of"),
        (("--method", "reward-conditioning", "--positive-token", "<x>", "--negative-token", "<x>", "--data", pairs,
          "-o", out), "--positive-token and --negative-token must differ"),
    ):
        r = run_cli("data", "build", *args, check=False)
        assert r.returncode == 2 and message in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr


def _sft_two_steps(tiny_decoder: str, folder: Path, out_dir: Path):
    """TRL's SFTTrainer for 2 steps on the folder's train.jsonl, loaded the way `trl sft --dataset_name` does."""
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    train = load_dataset(str(folder))["train"]
    args = SFTConfig(output_dir=str(out_dir), max_steps=2, per_device_train_batch_size=4, logging_steps=1,
                     report_to=[], use_cpu=True, save_strategy="no", bf16=False, seed=0, disable_tqdm=True,
                     max_length=256, dataset_num_proc=1)
    tok = AutoTokenizer.from_pretrained(tiny_decoder)
    trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(tiny_decoder), args=args, train_dataset=train,
                         processing_class=tok)
    trainer.train()
    return trainer, train, tok


def test_sft_trainer_trains_on_the_output(pools, tiny_decoder, tmp_path):
    path, rows = pools
    bon = tmp_path / "bon"
    build_sft_data(SFTBuildSpec(method="best-of-n", output=str(bon / "train.jsonl"), model="gold",
                                data=DataSpec(source=str(path))), scorer=_gold_scorer(rows), progress=False)
    chat = tmp_path / "rc"
    build_sft_data(SFTBuildSpec(method="reward-conditioning", output=str(chat / "train.jsonl"),
                                data=DataSpec(source=str(_chat_pairs(tmp_path)))))
    for folder in (bon, chat):
        trainer, train, tok = _sft_two_steps(tiny_decoder, folder, tmp_path / f"sft_{folder.name}")
        assert trainer.state.global_step == 2
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        assert len(losses) == 2 and all(math.isfinite(x) and x > 0 for x in losses)
        # TRL read the rows as prompt-completion: the loss covers the completion tokens only
        first = trainer.train_dataset[0]
        n_completion = sum(label != -100 for label in first["labels"])
        completion = train[0]["completion"]
        if isinstance(completion, str):
            want = len(tok(completion, add_special_tokens=False)["input_ids"]) + 1  # + EOS
            assert abs(n_completion - want) <= 1  # BPE may merge across the prompt/completion seam
        else:
            full = tok.apply_chat_template(train[0]["prompt"] + completion, return_dict=True)["input_ids"]
            prompt = tok.apply_chat_template(train[0]["prompt"], add_generation_prompt=True,
                                             return_dict=True)["input_ids"]
            assert 0 < n_completion <= len(full) - len(prompt) + 1
        assert 0 < n_completion < len(first["input_ids"])


def test_docstring_examples_pass():
    import doctest

    import rewardlab.policy.sft_data as mod

    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS, report=False)
    assert result.attempted >= 7 and result.failed == 0
