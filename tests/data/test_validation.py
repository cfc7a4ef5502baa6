"""Validation: every bad record named as source:line: field: reason; property tests on random input."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rewardlab.data import load_data
from rewardlab.data.schema import PreferencePair
from rewardlab.errors import DataValidationError, RewardlabError

CASES = [
    ({"prompt": "x", "chosen": "a"}, "rejected: missing"),
    ({"prompt": "   ", "chosen": "a", "rejected": "b"}, "prompt: empty text"),
    ({"prompt": "x", "chosen": "", "rejected": ""}, "chosen: identical to rejected"),
    ({"prompt": "x", "chosen": "a", "rejected": "a"}, "chosen: identical to rejected"),
    ({"prompt": "x", "chosen": "a", "rejected": "b", "label": 1.5}, "label: out of range [0.0, 1.0]: 1.5"),
    ({"prompt": "x", "chosen": "a", "rejected": "b", "label": "high"}, "label: wrong type"),
    ({"prompt": "x", "chosen": 3, "rejected": "b"}, "chosen: wrong type"),
    ({"prompt": "x", "chosen": "a", "rejected": "b", "tie": "maybe"}, "tie: wrong type"),
    ({"prompt": "x", "chosen": "a", "rejected": "b", "margin": None, "category": 7}, "category: wrong type"),
    ({"prompt": "", "chosen": "a", "rejected": "b"}, "prompt: empty text"),
    ({"prompt": "x", "chosen": [{"role": "assistant"}], "rejected": "b"}, "chosen[0].content: missing"),
]


@pytest.mark.parametrize("row,expected", CASES)
def test_each_bad_record_is_named(tmp_path, row, expected):
    path = tmp_path / "d.jsonl"
    good = {"prompt": "p", "chosen": "c", "rejected": "r"}
    path.write_text(json.dumps(good) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(DataValidationError) as e:
        load_data(str(path))
    assert f"{path}:2: {expected}" in str(e.value)
    res = load_data(str(path), on_invalid="skip")
    assert len(res.records) == 1 and len(res.skipped) == 1


def test_empty_response_is_kept_and_counted(tmp_path):
    from rewardlab.data.stats import data_stats

    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"prompt": "Say nothing", "chosen": "", "rejected": "No."}) + "\n")
    recs = load_data(str(path)).records
    assert recs[0].chosen == "" and data_stats(recs)["empty_responses"] == 1


def test_broken_json_and_undecodable_bytes(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_bytes(b'{"prompt": "x", "chosen": "a"}\nnot json\n{"prompt": "\xff\xfe", "chosen": "a", "rejected": "b"}\n')
    with pytest.raises(DataValidationError) as e:
        load_data(str(path))
    msg = str(e.value)
    assert f"{path}:1: rejected: missing" in msg
    assert f"{path}:2: <line>: broken JSON" in msg
    assert f"{path}:3: <line>: undecodable bytes" in msg


def test_message_lists_first_20_then_count(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"prompt": "x", "chosen": "a", "rejected": "a"}) + "\n" for _ in range(25)))
    with pytest.raises(DataValidationError) as e:
        load_data(str(path))
    msg = str(e.value)
    assert msg.count("identical to rejected") == 20
    assert "... and 5 more" in msg
    assert len(e.value.issues) == 25


def test_json_array_line_numbers(tmp_path):
    path = tmp_path / "d.json"
    path.write_text('[\n {"prompt": "x", "chosen": "a", "rejected": "b"},\n {"prompt": "x", "chosen": "a"}\n]\n')
    with pytest.raises(DataValidationError) as e:
        load_data(str(path))
    assert f"{path}:3: rejected: missing" in str(e.value)


def test_missing_file_and_unknown_format_are_clear(tmp_path):
    with pytest.raises(RewardlabError, match="no such file"):
        load_data(str(tmp_path / "nope.jsonl"))
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(RewardlabError, match="cannot tell the file format"):
        load_data(str(tmp_path / "x.txt"))


# ---------------------------------------------------------------- property-based

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
field_names = st.sampled_from(["prompt", "chosen", "rejected", "label", "margin", "tie", "category", "id", "x"])
records = st.dictionaries(field_names, json_values | st.text(max_size=12), max_size=7)


def _check_outcome(path, n_lines):
    try:
        res = load_data(str(path), on_invalid="error")
    except DataValidationError as e:
        for issue in e.issues:
            assert issue.source == str(path)
            assert issue.line is not None and 1 <= issue.line <= n_lines
            assert issue.field and issue.reason
        return
    except RewardlabError:
        return  # a file-level problem (e.g. no chosen/rejected columns at all), reported clearly
    for rec in res.records:
        assert isinstance(rec, PreferencePair)
        assert rec.chosen != rec.rejected
        assert rec.label is None or 0.0 <= rec.label <= 1.0


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(records, min_size=1, max_size=6))
def test_random_records_give_pairs_or_our_error(tmp_path, rows):
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _check_outcome(path, len(rows))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(max_size=300))
def test_random_bytes_give_pairs_or_our_error(tmp_path, blob):
    path = tmp_path / "b.jsonl"
    path.write_bytes(blob)
    _check_outcome(path, blob.count(b"\n") + 1)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200))
def test_random_csv_and_json_text_give_pairs_or_our_error(tmp_path, text):
    for name in ("r.csv", "r.json"):
        path = tmp_path / name
        path.write_text(text)
        _check_outcome(path, text.count("\n") + 2)
