"""`rewardlab report DIR`: one self-contained report.html (plots embedded) from metrics.json, audit.json,
goodhart.json, data_stats.json and logs_eval.json, whichever the folder has."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from rewardlab.errors import RewardlabError
from rewardlab.kinds import KindHooks, get_kind, kind_names
from rewardlab.report.markup import ci, esc
from rewardlab.results import read_result
from rewardlab.results.audit import AuditReport
from rewardlab.results.compare import DataStats
from rewardlab.results.curves import GoodhartCurves, OptimizeSummary
from rewardlab.results.metrics import (
    BattlesMetrics,
    Estimate,
    EvalMetrics,
    KSampleMetrics,
    LengthBaselines,
    PairsMetrics,
    Ranking,
    Temperature,
)

DEFINITIONS = [
    ("accuracy", "share of pairs where the chosen response gets the higher reward; model ties count 0.5."),
    ("longer / shorter wins", "accuracy of always picking the longer (shorter) response: the length-only baseline "
     "the model must beat."),
    ("reward gap", "mean of r(chosen) - r(rejected)."),
    ("NLL", "mean -log sigma(Delta / T), the preference negative log-likelihood of the labels."),
    ("Brier", "mean (sigma(Delta / T) - y)^2."),
    ("ECE", "expected calibration error: 10 equal bins of confidence max(p, 1-p) on [0.5, 1], weighted |accuracy - "
     "confidence|; 'after temperature' rescales Delta by T fitted on one half of the prompts."),
    ("gold agreement", "(simulator data) share of pairs the model orders as the hidden gold utility does."),
    ("Spearman / Kendall", "rank correlation of rewards with graded scores, overall and within each prompt."),
    ("best-of-K", "expected correctness (or gold utility) of the response the RM ranks first in a random K-subset; "
     "the oracle picks with the ground truth."),
    ("harmful error mass", "(K-sample pools with gold scores) base-policy probability of the responses the RM "
     "rates above its pool mean although their gold score is below the gold mean: the errors optimisation turns "
     "into harm."),
    ("ascent alignment", "sum pi_0^2 (r - mean r)(r_hat - mean r_hat) / sum pi_0^2 (r - mean r)^2 over prompts: "
     "how fast a small softmax policy-gradient step on the RM raises the gold reward, relative to a step on the gold "
     "itself (1 = as fast; < 0: the step lowers the gold); the cosine is its scale-free form, per prompt."),
    ("separability", "share of system pairs whose RM-derived rating CIs do not overlap (PPE)."),
    ("confidence agreement", "mean over system pairs of +1 when human and RM CIs separate them the same way, -1 "
     "opposite, 0 otherwise (PPE)."),
    ("95% CI", "percentile bootstrap over items (over prompts when several pairs share one)."),
]

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2430}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:1.6em;margin:0 0 4px}h2{margin-top:32px;border-bottom:2px solid #dde2ea;padding-bottom:4px}
h3{margin-bottom:6px}.meta{color:#5b6475;font-size:.9em}
table{border-collapse:collapse;background:#fff;margin:8px 0;font-size:.92em}
td,th{border:1px solid #dde2ea;padding:5px 9px;text-align:left}th{background:#eef1f6}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.warn{background:#fff4e5;border-left:4px solid #f0a020;padding:8px 12px;margin:6px 0}
.ok{background:#e9f7ef;border-left:4px solid #2e9e5b;padding:8px 12px;margin:6px 0}
.plots{display:flex;flex-wrap:wrap;gap:12px}.plots img{background:#fff;border:1px solid #dde2ea;max-width:100%}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:10px 0}
.card{background:#fff;border:1px solid #dde2ea;border-radius:6px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:1.4em}.card span{color:#5b6475;font-size:.85em}
dl dt{font-weight:600}dl dd{margin:0 0 6px 16px}
"""


_e = esc
_ci = ci


def _num(x: Any, digits: int = 3) -> str:
    if isinstance(x, Estimate | dict):
        return _ci(x, digits)
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return "n/a" if x is None else _e(x)


def _img(folder: Path, name: str) -> str:
    p = folder / name
    if not p.exists():
        return ""
    data = base64.b64encode(p.read_bytes()).decode()
    return f'<img alt="{_e(name)}" src="data:image/png;base64,{data}">'


def _table(rows: list[tuple[str, str]], head: tuple[str, str] = ("metric", "value (95% CI)")) -> str:
    body = "".join(f"<tr><td>{_e(k)}</td><td class=num>{v}</td></tr>" for k, v in rows)
    return f"<table><tr><th>{_e(head[0])}</th><th>{_e(head[1])}</th></tr>{body}</table>"


def pairs_section(name: str, m: PairsMetrics, folder: Path, plots: list[str]) -> str:
    lb = m.length_baselines or LengthBaselines()
    temp = m.temperature or Temperature()
    gold = m.gold_agreement
    cards = [("accuracy", _ci(m.accuracy)), ("longer wins", _ci(lb.longer)), ("shorter wins", _ci(lb.shorter))]
    if gold is not None:
        cards.append(("gold agreement", _ci(gold.agreement)))
    lc = m.length_controlled
    if lc:
        cards.append(("length-controlled accuracy", _ci(lc.accuracy)))
    card_html = "".join(f"<div class=card><span>{_e(k)}</span><b>{v.split(' ')[0]}</b>"
                        f"<span>{_e(' '.join(v.split(' ')[1:]))}</span></div>" for k, v in cards)
    t_value = float("nan") if temp.value is None else temp.value
    rows = [
        ("pairs", str(m.n)),
        ("accuracy", _ci(m.accuracy)),
        ("longer wins (baseline)", _ci(lb.longer)),
        ("shorter wins (baseline)", _ci(lb.shorter)),
        ("model ties", f"{m.n_model_ties} ({m.model_tie_rate:.1%})"),
        ("reward gap", _num(m.reward_gap)),
        ("preference NLL", _num(m.nll)),
        ("Brier", _num(m.brier)),
        ("ECE (raw)", _num(m.ece)),
        (f"ECE after temperature T={t_value:.3g} ({temp.source or ''})", _num(m.ece_calibrated)),
    ]
    if lc:
        fits = lc.fits()
        betas = ", ".join(f"{f.beta:+.3g} [{f.beta_ci[0]:+.3g}, {f.beta_ci[1]:+.3g}]" for f in fits)
        how = "cross-fitted on prompt halves" if lc.method == "cross-fit" else f"fitted on {fits[0].source}"
        rows.insert(2, (f"length-controlled accuracy: q = reward - beta * f(length), f = {lc.feature}, beta "
                        f"{betas} ({how})", _ci(lc.accuracy)))
    if m.ece_calibrated_heldout is not None:
        h = m.ece_calibrated_heldout
        rows.append((f"ECE after temperature, held-out half (n={h.n})", _num(h.value)))
    if gold is not None:
        rows.append(("agreement with gold utility", _ci(gold.agreement)))
        rows.append(("gold utility's own accuracy on these labels", _num(m.gold_utility_accuracy)))
    if m.mean_std is not None:
        rows.append(("mean predicted reward std", _num(m.mean_std)))
    warn = "".join(f"<div class=warn>&#9888; {_e(w)}</div>" for w in m.warnings) or \
        "<div class=ok>No warnings: the model beats the length baselines and is reasonably calibrated.</div>"
    cats = m.per_category
    cat_rows = "".join(
        f"<tr><td>{_e(c)}</td><td class=num>{d.n}</td><td class=num>{_ci(d.accuracy)}</td>"
        f"<td class=num>{_ci((d.length_baselines or LengthBaselines()).longer)}</td></tr>"
        for c, d in sorted(cats.items()))
    cat_html = (f"<h3>By category</h3><table><tr><th>category</th><th>n</th><th>accuracy (95% CI)</th>"
                f"<th>longer wins</th></tr>{cat_rows}</table>") if len(cats) > 1 else ""
    secs = m.sections
    if secs:
        sec_rows = [(f"{k} ({', '.join(v.categories)})", _ci(v.accuracy)) for k, v in secs.items()]
        sec_rows.append(("section mean", _num(m.section_mean)))
        cat_html += "<h3>Sections (prompt-count weighted)</h3>" + _table(sec_rows, ("section", "accuracy"))
    imgs = "".join(_img(folder, p) for p in plots)
    return (f"<h2>{_e(name)}: preference pairs</h2><div class=cards>{card_html}</div>{warn}{_table(rows)}"
            f"{cat_html}<div class=plots>{imgs}</div>")


def ksample_section(name: str, m: KSampleMetrics, folder: Path, plots: list[str]) -> str:
    r = m.ranking or Ranking()
    rows = [("sets", str(m.n_sets)), ("responses", str(m.n_responses)),
            ("Spearman (all)", _num(r.spearman)), ("Kendall (all)", _num(r.kendall))]
    if r.spearman_within_groups is not None:
        rows += [("Spearman within prompt", _num(r.spearman_within_groups)),
                 ("Kendall within prompt", _num(r.kendall_within_groups))]
    c = m.correctness
    if c:
        rows += [("pairwise accuracy (correct vs incorrect)", _ci(c.accuracy)),
                 ("ROC AUC per prompt", _ci(c.roc_auc)), ("best-of-K end score", _num(c.end_score)),
                 ("best-of-K max score", _num(c.max_score)), ("loss vs oracle", _num(c.loss, 4))]
    if m.best_of_k_credit is not None:
        rows.append(("best-of-K credit, one correct response (RewardBench v2 style)",
                     _ci(m.best_of_k_credit.accuracy)))
    g = m.gold_best_of_k
    if g:
        rows += [(f"gold utility of the RM's best-of-{g.k[-1]}", _num(g.rm[-1])),
                 (f"gold utility of the oracle's best-of-{g.k[-1]}", _num(g.oracle[-1])),
                 ("gold utility of a random response (K=1)", _num(g.rm[0]))]
    h = m.harm_aware
    if h:
        rows += [(f"harmful error mass (pi_0 {h.pi0})", _ci(h.harmful_error_mass)),
                 ("ascent alignment (1 = the gold reward's own ascent)", _ci(h.ascent_alignment)),
                 ("ascent cosine (scale-free)", _ci(h.ascent_cosine))]
    imgs = "".join(_img(folder, p) for p in plots)
    return f"<h2>{_e(name)}: K samples per prompt</h2>{_table(rows)}<div class=plots>{imgs}</div>"


def battles_section(name: str, m: BattlesMetrics, folder: Path, plots: list[str]) -> str:
    rows = [("battles", str(m.n_battles)), ("systems", str(len(m.models))),
            ("accuracy vs human winner", _ci(m.accuracy)), ("Spearman (ratings)", _num(m.spearman)),
            ("Kendall (ratings)", _num(m.kendall)), ("row-wise Pearson", _num(m.rowwise_pearson)),
            ("separability", _num(m.separability)), ("confidence agreement", _num(m.confidence_agreement)),
            ("Brier", _num(m.brier))]
    rat = "".join(
        f"<tr><td>{_e(s)}</td><td class=num>{m.human_ratings[s].rating:.0f}</td>"
        f"<td class=num>{m.rm_ratings[s].rating:.0f}</td></tr>" for s in m.models)
    imgs = "".join(_img(folder, p) for p in plots)
    return (f"<h2>{_e(name)}: system battles (PPE)</h2>{_table(rows)}<table><tr><th>system</th>"
            f"<th>human rating</th><th>RM rating</th></tr>{rat}</table><div class=plots>{imgs}</div>")


def _audit_section(a: AuditReport, folder: Path) -> str:
    from rewardlab.report.audit import audit_html

    return audit_html(a, folder, _img)


def build_report(folder: str | Path, title: str | None = None) -> Path:
    """Write folder/report.html from metrics.json (and audit.json when present); returns its path.

    The page is self-contained: the PNG plots of the folder are embedded, so it can be sent as one file.

    Args:
        folder: an `evaluate`, `audit`, `goodhart`, `data stats`, `logs eval` and/or `optimize` output folder (their
            JSON and plots); an `optimize` run may also sit in its `optimize/` subfolder (as in the demo).
        title: the page title and heading (default: "rewardlab report" and "Reward model report").

    Returns:
        Path: folder/report.html.

    Raises:
        RewardlabError: the folder has none of the result files, one of them is not valid JSON or does not fit its
            schema (the message names the file and the field), or its logs_eval.json is not a logs evaluation.

    Example:
        >>> import tempfile
        >>> from rewardlab import CallableScorer, build_report, evaluate, simulate_pairs
        >>> from rewardlab.simulate.datasets import parse_rows
        >>> longer = CallableScorer(lambda prompt, response: len(response), name="longer")
        >>> tmp = tempfile.TemporaryDirectory()
        >>> _ = evaluate(longer, {"sim": parse_rows(simulate_pairs(50))}, tmp.name, n_resamples=100, progress=False,
        ...              plots=False)
        >>> page = build_report(tmp.name, title="Longer wins?")
        >>> page.name, "<title>Longer wins?</title>" in page.read_text()
        ('report.html', True)
        >>> tmp.cleanup()
        >>> build_report("runs/rm/eval")  # doctest: +SKIP
        PosixPath('runs/rm/eval/report.html')
    """
    folder = Path(folder)
    mpath, apath, gpath = folder / "metrics.json", folder / "audit.json", folder / "goodhart.json"
    dpath = folder / "data_stats.json"  # `rewardlab data stats DATA -o FOLDER/data_stats.json`
    lpath = folder / "logs_eval.json"  # `rewardlab logs eval ... -o FOLDER`
    opath = folder / "optimize.json"  # `rewardlab optimize ... -o FOLDER`
    if not opath.exists() and (folder / "optimize" / "optimize.json").exists():
        opath = folder / "optimize" / "optimize.json"  # a run in an optimize/ subfolder (the demo's)
    if not any(p.exists() for p in (mpath, apath, gpath, dpath, lpath, opath)):
        raise RewardlabError(f"{folder}: no metrics.json, audit.json, goodhart.json, data_stats.json, "
                             "logs_eval.json or optimize.json (run `rewardlab eval`, `rewardlab audit`, `rewardlab "
                             "goodhart`, `rewardlab data stats`, `rewardlab logs eval` or `rewardlab optimize`)")
    metrics = read_result(mpath, EvalMetrics) if mpath.exists() else EvalMetrics(datasets={})
    parts = []
    if dpath.exists():
        from rewardlab.report.quality import quality_html

        parts.append(quality_html(read_result(dpath, DataStats)))
    for name, m in metrics.datasets.items():
        section = get_kind(m.kind).hook("report_section") if m.kind in kind_names() else None
        if section is None:
            raise RewardlabError(f"{mpath}: dataset {name!r} has record kind {m.kind!r}, which has no report "
                                 f"section (kinds with one: {', '.join(KindHooks('report_section'))})")
        parts.append(section(name, m, folder, metrics.plots.get(name, [])))
    audit = read_result(apath, AuditReport) if apath.exists() else None
    if audit:
        parts.append(_audit_section(audit, folder))
    if gpath.exists():
        from rewardlab.report.goodhart import goodhart_html

        parts.append(goodhart_html(read_result(gpath, GoodhartCurves), folder, _img))
    if opath.exists():
        from rewardlab.report.optimize import optimize_html

        parts.append(optimize_html(read_result(opath, OptimizeSummary), opath.parent, _img))
    logs = None
    if lpath.exists():
        from rewardlab.logs.run import LogsEvalResult
        from rewardlab.report.logs_eval import logs_eval_html

        logs = LogsEvalResult.read(lpath)
        parts.append(logs_eval_html(logs, folder, _img))
    defs = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in DEFINITIONS)
    model = metrics.model or (audit.model if audit and audit.model is not None else "")
    train = metrics.training
    train_html = ""
    if train:
        train_html = "<h2>Training</h2>" + _table([(k, _e(v)) for k, v in train.items()], ("setting", "value"))
    src: EvalMetrics | AuditReport | None = metrics if metrics.created else audit
    meta_bits = [f"model: {_e(model)}"] if model else []
    if src is not None and src.created:
        meta_bits.append(f"created {_e(src.created)}")
    if metrics.n_resamples:
        meta_bits.append(f"bootstrap resamples: {_e(metrics.n_resamples)}")
    schema = (src.schema if src is not None else None) or (logs.schema if logs else "")
    if schema:
        meta_bits.append(f"schema {_e(schema)}")
    meta_line = " &middot; ".join(meta_bits)
    doc = f"""<!doctype html><html lang=en><head><meta charset=utf-8>
<meta name=viewport content="width=device-width, initial-scale=1">
<title>{_e(title or 'rewardlab report')}</title><style>{CSS}</style></head><body><main>
<h1>{_e(title or 'Reward model report')}</h1>
<div class=meta>{meta_line}</div>
{train_html}{''.join(parts)}
<h2>Definitions</h2><dl>{defs}</dl>
</main></body></html>"""
    out = folder / "report.html"
    out.write_text(doc, encoding="utf-8")
    return out
