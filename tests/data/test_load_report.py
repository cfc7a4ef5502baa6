"""LoadResult.report_skipped: what on_invalid='skip' left out is logged (every stage reads through it)."""

from __future__ import annotations

import json
import logging

from rewardlab.data.spec import DataSpec


def test_skipped_records_are_logged_with_counts(tmp_path, caplog):
    f = tmp_path / "p.jsonl"
    f.write_text(json.dumps({"prompt": "q", "chosen": "a", "rejected": "b"}) + "\n"
                 + json.dumps({"prompt": "q", "chosen": "a"}) + "\n")
    with caplog.at_level(logging.WARNING, logger="rewardlab"):
        res = DataSpec(source=str(f), on_invalid="skip").load().report_skipped()
    assert len(res.records) == 1
    assert any("skipped 1 invalid record(s) of 2" in m for m in caplog.messages)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="rewardlab"):
        DataSpec(source=str(f), on_invalid="skip", limit=1).load().report_skipped()
    assert not caplog.messages  # nothing skipped, nothing said
