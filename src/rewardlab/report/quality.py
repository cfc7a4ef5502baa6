"""The data-quality section of report.html, from data_stats.json (`rewardlab data stats DATA -o FOLDER/data_stats.json`):
annotator agreement with 95% CIs and the intransitive preference cycles found."""

from __future__ import annotations

from typing import Any

from rewardlab.data.quality import DataQuality
from rewardlab.report.markup import ci as _ci
from rewardlab.report.markup import esc as _e
from rewardlab.results.compare import DataStats


def quality_html(stats: DataStats | dict[str, Any]) -> str:
    """HTML for the "quality" part of a data_stats.json (typed or as its dict; empty when the file has none)."""
    stats = DataStats.coerce(stats)
    if not stats.quality:
        return ""
    dq = DataQuality.from_dict(stats.quality)
    parts = [f"<h2>Data quality: {_e('' if stats.source is None else stats.source)}</h2>"]
    a = dq.agreement
    if a is None:
        parts.append("<div class=meta>No comparison was judged by several annotators (no agreement to measure).</div>")
    else:
        rows = [(name, d) for name, d in (("raw agreement", a.raw_agreement),
                                           ("Krippendorff's alpha (nominal)", a.krippendorff_alpha),
                                           (f"Fleiss' kappa ({a.fleiss_units} comparisons)", a.fleiss_kappa),
                                           ("Cohen's kappa", a.cohen_kappa)) if d is not None]
        body = "".join(f"<tr><td>{_e(k)}</td><td class=num>{_ci(d)}</td>"
                       f"</tr>" for k, d in rows)
        parts.append(f"<div class=meta>{a.n_judgements} judgements of {a.n_units} comparisons by {a.n_annotators} "
                     f"annotators ({_e(a.source)})</div><table><tr><th>agreement</th><th>value (95% CI)</th></tr>"
                     f"{body}</table>")
        parts += [f"<div class=meta>note: {_e(n)}</div>" for n in a.notes]
    for c in (dq.cycles, dq.systems):
        if c is None:
            continue
        cls = "warn" if c.n_cycles else "ok"
        lengths = ", ".join(f"{n} of length {k}" for k, n in c.by_length.items())
        parts.append(f"<div class={cls}>Preference cycles (length 3-{c.max_length}): {c.n_cycles}"
                     f"{' (' + lengths + ')' if lengths else ''} in {c.n_graphs_with_cycles} of {c.n_graphs} graphs"
                     f"{' (a lower bound: the search stopped)' if c.truncated else ''}. Graph: {_e(c.graph)}.</div>")
        if c.listed:
            items = "".join(f"<tr><td>{_e(cy.prompt[:120])}</td><td>{' &gt; '.join(_e(t[:80]) for t in cy.items + cy.items[:1])}"
                            f"</td></tr>" for cy in c.listed)
            parts.append(f"<table><tr><th>prompt</th><th>cycle</th></tr>{items}</table>")
    return "".join(parts)
