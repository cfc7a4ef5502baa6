"""`rewardlab generate`: batched sampling from a causal LM into K-sample pools with the sampler's log-probabilities.

The log-probabilities are checked against an independent teacher-forced forward pass with temperature and top-p
applied by hand; resume against an uninterrupted run; greedy (top-k 1) against its closed form (log-prob 0).
"""

from __future__ import annotations

import json

import pytest
import torch

from rewardlab.errors import RewardlabError
from rewardlab.optimize.generate import GenerateSpec, PromptRow, generate_pools, read_prompts, sample

PROMPTS = ["What is the capital of France?", "Name a prime number.", "How do I boil an egg?", "Why is the sky blue?"]


@pytest.fixture(scope="module")
def lm(tiny_decoder):
    from rewardlab.models.generator import load_generator

    return load_generator(tiny_decoder, device="cpu")


def _rows(prompts=PROMPTS):
    return [PromptRow(f"q{i}", p) for i, p in enumerate(prompts)]


def _read(path):
    return [json.loads(line) for line in open(path)]


def _by_hand(model, tok, text: str, ids: list[int], temperature: float, top_p: float) -> float:
    """Summed log-probability of `ids` after `text`, under softmax(logits / T) restricted to the top-p nucleus."""
    prompt = tok(text, add_special_tokens=False)["input_ids"]
    full = torch.tensor([prompt + ids])
    with torch.no_grad():
        logits = model(full).logits[0, len(prompt) - 1 : -1].double() / temperature
    total = 0.0
    for row, tid in zip(logits, ids, strict=True):
        probs = torch.softmax(row, -1)
        order = torch.argsort(probs, descending=True)
        cum = torch.cumsum(probs[order], 0)
        keep = order[: int((cum < top_p).sum()) + 1]  # smallest prefix whose mass reaches top_p
        assert tid in keep.tolist(), "a sampled token lies outside the nucleus"
        total += float(torch.log_softmax(row[keep], -1)[keep.tolist().index(tid)])
    return total


def test_logprobs_equal_a_teacher_forced_pass_with_the_same_warpers(lm, monkeypatch):
    model, tok = lm
    spec = GenerateSpec(n=1, temperature=0.7, top_p=0.9, max_new_tokens=12)
    texts = [tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
             for p in PROMPTS[:3]]
    first = sample(model, tok, texts, spec, seed=5)  # left-padded batch of prompts of different lengths
    # a random model rarely samples its EOS: make row 0's fourth token a stop token too and sample again with the
    # same seed, so that row 0 stops there (its EOS counts in its log-probability) while the others run on
    stop = first[0]["token_ids"][3]
    monkeypatch.setattr(model.generation_config, "eos_token_id", [tok.eos_token_id, stop])
    rows = sample(model, tok, texts, spec, seed=5)
    assert rows[0]["token_ids"] == first[0]["token_ids"][: rows[0]["token_ids"].index(stop) + 1]
    assert not rows[0]["truncated"] and rows[0]["n_tokens"] <= 4
    for text, row in zip(texts, rows, strict=True):
        assert row["logprob"] < 0
        assert row["logprob"] == pytest.approx(_by_hand(model, tok, text, row["token_ids"], 0.7, 0.9), abs=1e-4)
        assert row["n_tokens"] == len(row["token_ids"]) <= 12


def test_greedy_top_k_1_has_log_probability_zero_and_identical_samples(lm):
    model, tok = lm
    rows = sample(model, tok, ["Name a prime number."] * 3, GenerateSpec(n=3, top_k=1, max_new_tokens=8), seed=0)
    assert {r["response"] for r in rows} == {rows[0]["response"]}
    assert all(r["logprob"] == 0.0 for r in rows)


def test_pool_file_format_reproducibility_and_stop_at_eos(lm, tmp_path):
    model, tok = lm
    spec = GenerateSpec(n=3, max_new_tokens=6, batch_size=4, seed=1)
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    done = generate_pools(_rows(), a, spec, model=model, tokenizer=tok, progress=False)
    assert done == {"written": 4, "skipped": 0, "truncated": done["truncated"], "out": str(a)}
    recs = _read(a)
    assert [r["id"] for r in recs] == ["q0", "q1", "q2", "q3"]
    for r in recs:
        assert len(r["responses"]) == len(r["logprobs"]) == len(r["n_tokens"]) == len(r["truncated"]) == 3
        assert all(lp <= 0 for lp in r["logprobs"]) and all(1 <= k <= 6 for k in r["n_tokens"])
        # a response either ended with EOS inside the budget or was cut and marked truncated
        assert all(t == (k == 6) or k == 6 for k, t in zip(r["n_tokens"], r["truncated"], strict=True))
    assert done["truncated"] == sum(sum(r["truncated"]) for r in recs)
    generate_pools(_rows(), b, spec, model=model, tokenizer=tok, progress=False)
    assert _read(b) == recs  # same seed, same batch size: same file


def test_n_larger_than_the_batch_splits_one_prompts_samples(lm, tmp_path):
    model, tok = lm
    out = tmp_path / "p.jsonl"
    generate_pools(_rows()[:2], out, GenerateSpec(n=5, batch_size=2, max_new_tokens=4), model=model, tokenizer=tok,
                   progress=False)
    assert [len(r["responses"]) for r in _read(out)] == [5, 5]


def test_a_killed_run_resumes_to_the_uninterrupted_file(lm, tmp_path, rewardlab_log):
    model, tok = lm
    spec = GenerateSpec(n=2, max_new_tokens=5, batch_size=2, seed=3)
    full, cut = tmp_path / "full.jsonl", tmp_path / "cut.jsonl"
    generate_pools(_rows(), full, spec, model=model, tokenizer=tok, progress=False)
    generate_pools(_rows(), cut, spec, model=model, tokenizer=tok, progress=False)
    lines = cut.read_text().splitlines(keepends=True)
    cut.write_text("".join(lines[:2]) + lines[2][:17])  # killed while writing the third record
    done = generate_pools(_rows(), cut, spec, model=model, tokenizer=tok, progress=False)
    assert (done["written"], done["skipped"]) == (2, 2)
    assert cut.read_text() == full.read_text()
    assert "half-written last line" in str(rewardlab_log)
    again = generate_pools(_rows(), cut, spec, model=model, tokenizer=tok, progress=False)
    assert (again["written"], again["skipped"]) == (0, 4)
    with pytest.raises(RewardlabError, match=r"other settings \(temperature 1.0 -> 0.5\)"):
        generate_pools(_rows(), cut, GenerateSpec(n=2, max_new_tokens=5, batch_size=2, seed=3, temperature=0.5),
                       model=model, tokenizer=tok, progress=False)


@pytest.mark.parametrize("text, suffix, message", [
    ('{"prompt": "a"}\n{"prompt": "b"\n', ".jsonl", r"p\.jsonl:2: not valid JSON"),
    ('{"prompt": "a"}\n{"text": "b"}\n', ".jsonl", r"p\.jsonl:2: field 'prompt': missing"),
    ('{"prompt": ""}\n', ".jsonl", r"p\.jsonl:1: field 'prompt': expected non-empty text"),
    ('{"id": "x", "prompt": "a"}\n{"id": "x", "prompt": "b"}\n', ".jsonl", r"p\.jsonl:2: field 'id': 'x' repeats "
     "line 1"),
    ("\n\n", ".txt", r"p\.txt: no prompts"),
])
def test_bad_prompt_files_name_file_line_and_field(tmp_path, text, suffix, message):
    f = tmp_path / f"p{suffix}"
    f.write_text(text)
    with pytest.raises(RewardlabError, match=message):
        read_prompts(f)


def test_prompt_files_txt_and_messages(tmp_path):
    t = tmp_path / "p.txt"
    t.write_text("first\n\nsecond\n")
    assert [(r.id, r.prompt) for r in read_prompts(t)] == [("p1", "first"), ("p3", "second")]
    j = tmp_path / "p.jsonl"
    msgs = [{"role": "user", "content": "hi"}]
    j.write_text(json.dumps({"id": 7, "prompt": msgs}) + "\n")
    assert read_prompts(j)[0] == PromptRow("7", msgs)


def test_generate_then_bon_on_the_fresh_pools(tiny_decoder, tiny_rm, tmp_path):
    """The real path end to end: the CLI samples pools without scores; goodhart's base policy reads their
    logprobs; bon picks from them; eval refuses them with a clear error (nothing to compare with)."""
    from typer.testing import CliRunner

    from rewardlab.cli import app
    from rewardlab.data import load_data
    from rewardlab.optimize.run import as_pools, pool_log_pi0

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(PROMPTS[:3]) + "\n")
    pools = tmp_path / "pools.jsonl"
    runner = CliRunner()
    res = runner.invoke(app, ["generate", "--model", tiny_decoder, "--prompts", str(prompts), "-n", "4",
                              "--max-new-tokens", "6", "--device", "cpu", "-o", str(pools)])
    assert res.exit_code == 0, res.output
    assert "sampled 4 responses for 3 prompts" in res.output
    sets = as_pools(load_data(str(pools)).records)
    assert sets.shape == (3, 4) and all(s.scores is None for s in sets.records)
    lp = pool_log_pi0(sets)
    assert lp.shape == (3, 4) and (lp <= 0).all()
    res = runner.invoke(app, ["bon", "--model", tiny_rm, "--data", str(pools), "-n", "4", "--device", "cpu",
                              "-o", str(tmp_path / "bon.jsonl")])
    assert res.exit_code == 0, res.output
    assert len(_read(tmp_path / "bon.jsonl")) == 3
    res = runner.invoke(app, ["eval", "--model", tiny_rm, "--data", str(pools), "-o", str(tmp_path / "ev")])
    assert isinstance(res.exception, RewardlabError) and "record p1 has no 'scores'" in str(res.exception)
