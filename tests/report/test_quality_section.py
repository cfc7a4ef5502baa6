"""The report's data-quality section, rendered from the data_stats.json that `rewardlab data stats -o` writes."""

from __future__ import annotations

import json

from rewardlab.data.quality import QualitySpec
from rewardlab.data.schema import PreferencePair as P
from rewardlab.data.stats import data_stats
from rewardlab.report import build_report


def test_report_shows_agreement_and_the_cycles_of_data_stats_json(tmp_path):
    pairs = [P("q", "alpha reply", "beta reply", extra={"votes": [1, 1, 0]}),
             P("q", "beta reply", "gamma reply", extra={"votes": [1, 1, 1]}),
             P("q", "gamma reply", "alpha reply", extra={"votes": [1, 0, 1]})]
    stats = data_stats(pairs, quality=QualitySpec(n_resamples=0))
    (tmp_path / "data_stats.json").write_text(json.dumps({**stats, "source": "toy.jsonl"}))
    html = build_report(tmp_path).read_text()
    assert "<h2>Data quality: toy.jsonl</h2>" in html
    raw = stats["quality"]["agreement"]["raw_agreement"]["estimate"]
    assert raw == (1 / 3 + 1 + 1 / 3) / 3  # pairs of votes agreeing: 1 of 3, 3 of 3, 1 of 3
    assert f"{raw:.3f}" in html and "9 judgements of 3 comparisons by 3 annotators" in html
    assert "Preference cycles (length 3-5): 1 (1 of length 3) in 1 of 1 graphs" in html
    assert "alpha reply &gt; beta reply &gt; gamma reply &gt; alpha reply" in html
