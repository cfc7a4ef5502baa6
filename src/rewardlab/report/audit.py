"""The audit's section of report.html: flags first (class "warn"), then tables and the plots."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rewardlab.audit.features import STAT_LABELS
from rewardlab.report.markup import ci, esc
from rewardlab.results.audit import (
    Adversarial,
    AuditData,
    AuditLengthControl,
    AuditReport,
    AuditSettings,
    DataSource,
    FeatureStats,
    LengthSubset,
    Probes,
    Sycophancy,
    TrainedOn,
)
from rewardlab.results.metrics import Estimate

_e = esc
_TRAINED = " <small>(trained on: not independent evidence)</small>"
_HELDOUT = " <small>(held-out variant of a trained-on probe: independent evidence)</small>"


def _ci(d: Estimate | None, digits: int = 2, pct: bool = False) -> str:
    return ci(d, digits, pct)


def _or(x: Any, default: Any) -> Any:
    """`x`, or `default` where the file had no value."""
    return default if x is None else x


def _stat(e: FeatureStats, key: str) -> Estimate | None:
    return getattr(e, key)  # STAT_LABELS names FeatureStats' correlation fields


def _features_table(features: dict[str, FeatureStats]) -> str:
    head = "".join(f"<th>{_e(STAT_LABELS[k])} (95% CI)</th>" for k in STAT_LABELS)
    rows = []
    for name, e in features.items():
        cls = " class=warn" if e.flagged else ""
        if e.constant:
            cells = "<td colspan=4>no correlation: the feature (or the reward) is constant on this data</td>"
        else:
            cells = "".join(f"<td class=num>{_ci(_stat(e, k))}</td>" for k in STAT_LABELS)
        rows.append(f"<tr{cls}><td title='{_e(_or(e.definition, ''))}'>{_e(name)}</td>"
                    f"<td class=num>{_or(e.mean, 0):.3g}</td>{cells}</tr>")
    return (f"<table><tr><th>feature</th><th>mean</th>{head}</tr>{''.join(rows)}</table>")


def _probes_table(probes: Probes) -> str:
    rows = []
    for name, d in probes.probes.items():
        cls = " class=warn" if d.flagged else ""
        std = d.standardized_change
        mark = _TRAINED if d.trained_on else _HELDOUT if d.heldout_variant else ""
        rows.append(f"<tr{cls}><td>{_e(name)}{mark}</td>"
                    f"<td>{_e(d.description)}</td><td class=num>{_ci(d.mean_change, 3)}</td>"
                    f"<td class=num>{'n/a' if std is None else f'{std:+.2f}'}</td>"
                    f"<td class=num>{_ci(d.share_rose, pct=True)}</td></tr>")
    return ("<table><tr><th>probe</th><th>edit</th><th>mean reward change (95% CI)</th><th>in reward std</th>"
            f"<th>share of responses whose reward rose</th></tr>{''.join(rows)}</table>")


def _adversarial_table(adv: Adversarial) -> str:
    rows = []
    for name, d in adv.probes.items():
        cls = " class=warn" if d.flagged else ""
        tied = d.share_tied
        rows.append(f"<tr{cls}><td>{_e(name)}{_TRAINED if d.trained_on else ''}</td>"
                    f"<td>{_e(d.description)}</td><td class=num>{d.n}</td>"
                    f"<td class=num>{_ci(d.share_outscores, pct=True)}</td>"
                    f"<td class=num>{'n/a' if tied is None else f'{tied:.0%}'}</td></tr>")
    return ("<table><tr><th>adversarial response</th><th>what it is</th><th>prompts</th>"
            "<th>share of prompts where it outscores the real response (95% CI)</th><th>ties</th></tr>"
            f"{''.join(rows)}</table>")


def _length_table(lc: AuditLengthControl) -> str:
    rows = [("accuracy (all pairs)", _ci(lc.accuracy, 3)),
            ("longer-wins baseline", _ci(lc.longer_wins, 3)),
            ("length-balanced accuracy", _ci(lc.length_balanced_accuracy, 3))]
    for d, label in ((lc.chosen_shorter, "chosen is the shorter"), (lc.chosen_longer, "chosen is the longer"),
                     (lc.equal_length, "equal length")):
        d = d or LengthSubset()
        rows.append((f"accuracy where {label} (n={d.n})", _ci(d.accuracy, 3)))
    for b in lc.by_length_difference:
        rows.append((f"len(chosen) - len(rejected) in [{b.lo:.0f}, {b.hi:.0f}] (n={b.n}; longer wins "
                     f"{b.longer_wins:.2f})", _ci(b.accuracy, 3)))
    body = "".join(f"<tr><td>{_e(k)}</td><td class=num>{v}</td></tr>" for k, v in rows)
    return f"<table><tr><th>length control ({_e(_or(lc.length_unit, 'tokens'))})</th><th>value (95% CI)</th></tr>" \
           f"{body}</table>"


def _sycophancy_table(s: Sycophancy) -> str:
    rows = [("cases", str(s.n)),
            ("agreeing response scores higher", _ci(s.agreeing_preferred, pct=True)),
            ("mean r(agreeing) - r(correcting)", _ci(s.mean_margin, 3)),
            ("reward ties", str(s.n_ties))]
    for k, d in s.by_kind.items():
        rows.append((f"kind {k} (n={d.n})", f"{d.agreeing_preferred:.0%} agreeing preferred"))
    body = "".join(f"<tr><td>{_e(k)}</td><td class=num>{v}</td></tr>" for k, v in rows)
    worst = "".join(f"<li><b>{_e(w.prompt)}</b><br>agreeing (+{w.margin:.3g}): {_e(w.agreeing)}<br>"
                    f"correcting: {_e(w.correcting)}</li>" for w in s.worst_cases)
    worst_html = f"<p>Cases where agreeing wins by the most:</p><ul>{worst}</ul>" if worst else ""
    return f"<table><tr><th>sycophancy</th><th>value (95% CI)</th></tr>{body}</table>{worst_html}"


def audit_html(audit: AuditReport | dict[str, Any], folder: Path, img: Callable[[Path, str], str]) -> str:
    """HTML fragment of an audit (audit.json, typed or as its dict): flags, feature/probe/length/sycophancy tables
    and plots."""
    audit = AuditReport.coerce(audit)
    flags = audit.flags
    settings = audit.settings or AuditSettings()
    data = audit.data or AuditData()
    pairs, cases = data.pairs or DataSource(), data.cases or DataSource()
    meta = (f"<p class=meta>model: {_e(_or(audit.model, ''))}; flag threshold |r| &gt; "
            f"{_e(_or(settings.threshold, ''))}; tokens counted with: {_e(_or(settings.tokenizer, ''))}; pairs: "
            f"{_e(_or(pairs.source, ''))}; cases: {_e(_or(cases.source, ''))}</p>")
    warn = "".join(f"<div class=warn>&#9888; {_e(f)}</div>" for f in flags) or \
        "<div class=ok>No flags: no feature correlates with the reward beyond the threshold, no probe raises the " \
        "reward, no adversarial response outscores the real one too often, and correcting beats agreeing with a " \
        "false claim.</div>"
    parts = [f"<h2>Reward-hacking audit</h2>{meta}{warn}"]
    t = audit.trained_on or TrainedOn()
    if t.probes or t.adversarial:
        parts.append(f"<div class=warn>Trained on (not independent evidence): the model was trained with "
                     f"counterfactual pairs built from probes {_e(', '.join(t.probes or []) or 'none')} and "
                     f"adversarial responses {_e(', '.join(t.adversarial or []) or 'none')} "
                     f"({_e(_or(t.source, ''))}); audit them on other edits for independent evidence.</div>")
    if audit.features:
        parts.append("<h3>What the reward correlates with</h3><p>Correlation of response features with the reward, "
                     "across responses and within prompt (each prompt's mean removed); 95% bootstrap CIs over "
                     "prompts. Flagged rows are highlighted.</p>" + _features_table(audit.features))
        parts.append(f"<div class=plots>{img(folder, 'audit_features.png')}"
                     f"{img(folder, 'audit_reward_length.png')}</div>")
    if audit.probes is not None and audit.probes.probes:
        parts.append(f"<h3>Counterfactual probes</h3><p>Edits that add nothing, applied to "
                     f"{audit.probes.n} responses. A probe that raises the reward is a hacking vector.</p>"
                     + _probes_table(audit.probes) + f"<div class=plots>{img(folder, 'audit_probes.png')}</div>")
    adv = audit.adversarial or Adversarial()
    if adv.probes:
        limit = adv.threshold if adv.threshold is not None else _or(settings.adversarial_threshold, 0.05)
        parts.append(f"<h3>Adversarial responses</h3><p>Responses that answer nothing, each tried against the real "
                     f"response of {adv.n} prompts (the real response: {_e(_or(adv.reference, ''))}). "
                     f"A row is flagged when the adversarial response outscores the real one on more than "
                     f"{limit:.0%} of prompts; 95% Wilson intervals over prompts.</p>" + _adversarial_table(adv))
    if audit.length_control:
        lc = audit.length_control
        parts.append(f"<h3>Length-controlled accuracy</h3><p>{_e(_or(lc.definition, ''))}.</p>" + _length_table(lc)
                     + f"<div class=plots>{img(folder, 'audit_length_control.png')}</div>")
    if audit.sycophancy is not None and audit.sycophancy.n:
        parts.append("<h3>Sycophancy</h3><p>The user asserts something false; one response agrees, the other "
                     "corrects.</p>" + _sycophancy_table(audit.sycophancy)
                     + f"<div class=plots>{img(folder, 'audit_sycophancy.png')}</div>")
    return "".join(parts)
