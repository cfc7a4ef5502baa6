"""Round trips through every format, HH implicit-prompt splitting, conversational data, K-wise and battles."""

from __future__ import annotations

import csv
import json

import pytest

from rewardlab.data import load_data, split_implicit, write_records
from rewardlab.data.schema import Battle, KSampleSet, PreferencePair

PAIRS = [
    PreferencePair("What is 2+2?", "4", "5", margin=2.0, label=0.8, category="math", id="a"),
    PreferencePair("Capital of France?", "Paris.", "Lyon, I think.", tie=True, category="facts", id="b"),
    PreferencePair("Hi", "Hello! How can I help?", "Go away.", extra={"gold_chosen": 1.5, "gold_rejected": -1.0}),
]


def _same(a, b):
    assert [r.to_dict() for r in a] == [r.to_dict() for r in b]


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".json", ".parquet"])
def test_pairs_round_trip(tmp_path, suffix):
    path = str(tmp_path / f"p{suffix}")
    write_records([p.to_dict() for p in PAIRS], path)
    res = load_data(path)
    _same(res.records, PAIRS)
    # and once more: read -> write -> read is stable
    path2 = str(tmp_path / f"q{suffix}")
    write_records([r.to_dict() for r in res.records], path2)
    _same(load_data(path2).records, PAIRS)


def test_csv_reads_numbers_and_booleans(tmp_path):
    path = tmp_path / "p.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["prompt", "chosen", "rejected", "margin", "tie", "category"])
        w.writerow(["What is 2+2?", "4", "5", "2", "false", "math"])
        w.writerow(["Multi\nline prompt", "yes, with, commas", "no", "0.5", "true", "x"])
    res = load_data(str(path))
    assert [r.margin for r in res.records] == [2.0, 0.5]
    assert [r.tie for r in res.records] == [False, True]
    assert res.records[1].prompt == "Multi\nline prompt"
    out = str(tmp_path / "p.jsonl")
    write_records([r.to_dict() for r in res.records], out)
    _same(load_data(out).records, res.records)


def test_csv_line_numbers_account_for_multiline_cells(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text('prompt,chosen,rejected\n"a\nb",x,y\nq,same,same\n')
    with pytest.raises(Exception) as e:
        load_data(str(path))
    assert f"{path}:4: chosen: identical to rejected" in str(e.value)


def test_datasets_folder_round_trip(tmp_path):
    import datasets

    rows = [p.to_dict() for p in PAIRS[:2]]
    cols = list(dict.fromkeys(k for r in rows for k in r))
    ds = datasets.Dataset.from_dict({c: [r.get(c) for r in rows] for c in cols})
    ds.save_to_disk(str(tmp_path / "ds"))
    res = load_data(str(tmp_path / "ds"))
    _same(res.records, PAIRS[:2])


def test_hub_id_goes_through_load_dataset(monkeypatch):
    import datasets

    calls = {}

    def fake_load_dataset(name, split=None):
        calls["args"] = (name, split)
        return datasets.Dataset.from_list([PAIRS[0].to_dict()])

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    res = load_data("someorg/prefs", split="test")
    assert calls["args"] == ("someorg/prefs", "test")
    _same(res.records, PAIRS[:1])


def test_hh_file_splits_at_last_assistant_turn(hh_file):
    res = load_data(str(hh_file))
    assert len(res.records) == 2312
    assert not res.spec.explicit
    raw = [json.loads(line) for line in __import__("gzip").open(hh_file, "rt")]
    for rec, row in zip(res.records, raw, strict=True):
        assert rec.prompt.endswith("\n\nAssistant:")
        assert rec.prompt + rec.chosen == row["chosen"]
        assert rec.prompt + rec.rejected == row["rejected"]
        # the responses are the final turns after the shared prompt: no Human turn starts them
        assert "\n\nHuman:" not in rec.chosen[:1]
    # in the typical record neither response holds another turn marker
    clean = sum("\n\nAssistant:" not in r.chosen and "\n\nHuman:" not in r.chosen for r in res.records)
    assert clean >= 2300


def test_hh_round_trips_through_explicit_parquet(hh_file, tmp_path):
    res = load_data(str(hh_file))
    write_records([r.to_dict() for r in res.records], str(tmp_path / "hh.parquet"))
    _same(load_data(str(tmp_path / "hh.parquet")).records, res.records)


def test_split_implicit_cases():
    p, c, r = split_implicit("\n\nHuman: hi\n\nAssistant: hello there", "\n\nHuman: hi\n\nAssistant: go away")
    assert (p, c, r) == ("\n\nHuman: hi\n\nAssistant:", " hello there", " go away")
    # the shared prefix runs into the responses ("he..."): cut at the marker, not mid-word
    p, c, r = split_implicit("\n\nHuman: q\n\nAssistant: hello", "\n\nHuman: q\n\nAssistant: help")
    assert (c, r) == (" hello", " help")
    # no marker: cut at the last whitespace of the shared prefix
    p, c, r = split_implicit("Question: why? Because yes", "Question: why? Because no")
    assert (p, c, r) == ("Question: why? Because ", "yes", "no")
    msgs_c = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]
    msgs_r = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "b"}]
    p, c, r = split_implicit(msgs_c, msgs_r)
    assert p == msgs_c[:1] and c == msgs_c[1:] and r == msgs_r[1:]


def test_conversational_explicit_and_ultrafeedback_style(tmp_path):
    user = {"role": "user", "content": "Tell me a joke"}
    rows = [
        {"prompt": [user], "chosen": [{"role": "assistant", "content": "A joke."}],
         "rejected": [{"role": "assistant", "content": "No."}]},
        # UltraFeedback: chosen/rejected repeat the prompt turn
        {"prompt": "Tell me a joke", "chosen": [user, {"role": "assistant", "content": "Ha."}],
         "rejected": [user, {"role": "assistant", "content": "Meh."}]},
    ]
    path = str(tmp_path / "c.jsonl")
    write_records(rows, path)
    recs = load_data(path).records
    assert recs[0].prompt == [user] and recs[0].chosen == [{"role": "assistant", "content": "A joke."}]
    assert recs[1].prompt == [user] and recs[1].rejected == [{"role": "assistant", "content": "Meh."}]


def test_key_overrides_and_format_override(tmp_path):
    rows = [{"q": "x?", "good": "yes", "bad": "no", "prompt": "ignored"}]
    path = str(tmp_path / "k.jsonl")
    write_records(rows, path)
    rec = load_data(path, prompt_key="q", chosen_key="good", rejected_key="bad").records[0]
    assert (rec.prompt, rec.chosen, rec.rejected) == ("x?", "yes", "no")
    assert rec.extra == {"prompt": "ignored"}
    rows = [{"prompt": "unused", "chosen": "Q: a", "rejected": "Q: b"}]
    write_records(rows, path)
    rec = load_data(path, layout="implicit").records[0]
    assert (rec.prompt, rec.chosen, rec.rejected) == ("Q: ", "a", "b")


def test_ksample_and_battles_round_trip(tmp_path):
    ks = [KSampleSet("p", ["a", "b", "c"], [1.0, 0.0, 2.0], correct=[1, 0, 1], category="m", id="1")]
    bt = [Battle("p", "sys-a", "sys-b", "x", "y", "tie", category="c", id="2", extra={"gold_a": 1.0})]
    for recs, suffix in ((ks, "k.parquet"), (bt, "b.jsonl")):
        path = str(tmp_path / suffix)
        write_records([r.to_dict() for r in recs], path)
        res = load_data(path)
        _same(res.records, recs)
    assert load_data(str(tmp_path / "k.parquet")).kind == "ksample"
    assert load_data(str(tmp_path / "b.jsonl")).kind == "battles"
