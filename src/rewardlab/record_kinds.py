"""The built-in record kinds, each declared once: preference pairs, K samples per prompt, system battles (see
`rewardlab.kinds` for the hooks). Above the stages in the layers, since it names their functions (as
"module:function" strings, imported when a kind is used); the package root imports it, so the kinds are registered
before any dispatch."""

from __future__ import annotations

from rewardlab.kinds import RecordKind, register_kind

register_kind(RecordKind(
    name="pairs", human_name="preference pairs",
    record="rewardlab.data.schema:PreferencePair", parse="rewardlab.data.formats:parse_pair",
    evaluate="rewardlab.eval.evaluate:eval_pairs", metrics="rewardlab.results.metrics:PairsMetrics",
    plots="rewardlab.eval.plots:pairs_plots", report_section="rewardlab.report.page:pairs_section",
    summary_lines="rewardlab.eval.summary:pairs_lines", stats="rewardlab.data.stats:pair_stats"))
register_kind(RecordKind(
    name="ksample", human_name="K samples per prompt",
    record="rewardlab.data.schema:KSampleSet", parse="rewardlab.data.formats:parse_ksample",
    evaluate="rewardlab.eval.evaluate:eval_ksample", metrics="rewardlab.results.metrics:KSampleMetrics",
    plots="rewardlab.eval.plots:ksample_plots", report_section="rewardlab.report.page:ksample_section",
    summary_lines="rewardlab.eval.summary:ksample_lines", stats="rewardlab.data.stats:ksample_stats"))
register_kind(RecordKind(
    name="battles", human_name="system battles",
    record="rewardlab.data.schema:Battle", parse="rewardlab.data.formats:parse_battle",
    evaluate="rewardlab.eval.evaluate:eval_battles", metrics="rewardlab.results.metrics:BattlesMetrics",
    plots="rewardlab.eval.plots:battles_plots", report_section="rewardlab.report.page:battles_section",
    summary_lines="rewardlab.eval.summary:battles_lines", stats="rewardlab.data.stats:battle_stats"))
