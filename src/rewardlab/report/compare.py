"""`rewardlab report BASE OTHER ...`: reward models side by side, each beside the first (the baseline).

Each model is a folder holding what `rewardlab eval` (metrics.json, scores_<name>.jsonl) and/or `rewardlab audit`
(audit.json) wrote for it; the two commands can write to the same folder. The comparison shows, per model:
- how it was trained, from its checkpoint's rewardlab.json (head, --balance, --augment, disentangled weights);
- per shared pair dataset: accuracy and (simulator data) gold agreement with their 95% CIs, the paired
  difference to the baseline on the same pairs (bootstrap CI, sign-flip p-value), and the within-pair Pearson and
  Spearman correlation of reward with response length in characters;
- from the audit: the flags (those on trained-on probes marked), the reward's Pearson and Spearman correlation with
  response length across responses and within prompt, the length-balanced accuracy, the accuracy where the chosen
  response is the shorter one, and the adversarial probes' shares.
It writes comparison.json (machines) and comparison.html (people) into the output folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rewardlab.errors import RewardlabError
from rewardlab.report.markup import ci, esc
from rewardlab.results import read_result, write_result
from rewardlab.results.audit import Adversarial, AuditLengthControl, AuditReport, FeatureStats, LengthSubset
from rewardlab.results.compare import (
    AuditSummary,
    ComparedDataset,
    ComparedModel,
    Comparison,
    PairedDifference,
    TrainingInfo,
    VsBaseline,
)
from rewardlab.results.metrics import Estimate, EvalMetrics, PairsMetrics
from rewardlab.stats.util import jsonable

LENGTH_STATS = ("pearson", "spearman", "within_pearson", "within_spearman")


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise RewardlabError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from None


def _scores(folder: Path, name: str) -> dict[str, dict[str, Any]]:
    path = folder / f"scores_{name}.jsonl"
    if not path.exists():
        return {}
    with open(path) as f:
        return {r["id"]: r for r in map(json.loads, f)}


def _folders(spec: str | Path | Sequence[str | Path]) -> list[Path]:
    """One model's folders: a path, a comma-separated string of paths (`eval,audit`) or a sequence of paths."""
    if isinstance(spec, str | Path):
        return [Path(p) for p in str(spec).split(",") if p]
    return [Path(p) for p in spec]


def _training(model: str | None) -> TrainingInfo | None:
    """How a checkpoint was trained, from its rewardlab.json (None when the model is not a local checkpoint)."""
    if not model:
        return None
    meta = _read_json(Path(model) / "rewardlab.json") if Path(model).is_dir() else None
    if not meta:
        return None
    cfg = meta.get("train_config") or {}
    out = TrainingInfo(head=meta.get("trained_head") or meta.get("head"), loss=meta.get("loss"),
                       base_model=meta.get("base_model"))
    if (cfg.get("balance") or {}).get("enabled") or meta.get("data", {}).get("balance"):
        out.balance = (cfg.get("balance") or {}).get("method", "resample")
    aug = meta.get("augment")
    if aug:
        out.augment = ",".join(aug.get("kinds", [])) if isinstance(aug, dict) else str(aug)
    if meta.get("disentangle"):
        out.disentangle = meta["disentangle"]
    return out


def _audit_summary(audit: AuditReport) -> AuditSummary:
    feats = audit.length or FeatureStats()
    lc = audit.length_control or AuditLengthControl()
    correlations = {k: est for k in LENGTH_STATS if (est := getattr(feats, k)) is not None}
    return AuditSummary(
        flags=audit.flags, n_flags=len(audit.flags), flagged=audit.flagged if audit.flagged is not None else {},
        trained_on=audit.trained_on, length_correlation=correlations,
        length_balanced_accuracy=lc.length_balanced_accuracy,
        chosen_shorter_accuracy=(lc.chosen_shorter or LengthSubset()).accuracy,
        adversarial={k: d.share_outscores for k, d in (audit.adversarial or Adversarial()).probes.items()})


def _pair_length_corr(rows: dict[str, dict[str, Any]], n_resamples: int, seed: int) -> dict[str, Estimate] | None:
    """Within-pair Pearson and Spearman correlation of reward with response length (characters), 95% CIs over
    pairs: the audit's `correlations` on the evaluated pairs, each pair its own group."""
    from rewardlab.audit.features import correlations

    rows_ = [r for r in rows.values() if "len_chosen" in r]
    if len(rows_) < 3:
        return None
    rewards = np.array([r["reward_chosen"] for r in rows_] + [r["reward_rejected"] for r in rows_], dtype=float)
    lengths = np.array([r["len_chosen"] for r in rows_] + [r["len_rejected"] for r in rows_], dtype=float)
    ids = [r["id"] for r in rows_] * 2
    c = correlations(lengths[:, None], rewards, ids, names=["length_chars"], n_resamples=n_resamples,
                     seed=seed)["length_chars"]
    return {k: Estimate.from_dict(jsonable(c[k])) for k in ("within_pearson", "within_spearman")
            if c.get(k) is not None} or None


def _paired(base_rows: dict[str, dict[str, Any]], rows: dict[str, dict[str, Any]], n_resamples: int,
            seed: int) -> VsBaseline:
    """Paired differences (this model - baseline) in accuracy and, with gold utilities, gold agreement."""
    from rewardlab.stats.metrics import compare_models

    ids = [i for i in rows if i in base_rows]
    if not ids:
        return VsBaseline(n=0)

    def col(src: dict[str, dict[str, Any]], key: str, keep: list[str]) -> list[float]:
        return [src[i][key] for i in keep]

    def diff(res: dict[str, Any], n: int | None = None) -> PairedDifference:
        return PairedDifference(difference=Estimate.from_dict(jsonable(res["difference"])),
                                p_value=float(res["p_value"]), n=n)

    out = VsBaseline(n=len(ids))
    res = compare_models(col(rows, "reward_chosen", ids), col(rows, "reward_rejected", ids),
                         col(base_rows, "reward_chosen", ids), col(base_rows, "reward_rejected", ids),
                         labels=col(rows, "label", ids), n_resamples=n_resamples, seed=seed)
    out.accuracy = diff(res)
    gold = [i for i in ids if "gold_chosen" in rows[i] and rows[i]["gold_chosen"] != rows[i]["gold_rejected"]]
    if gold:
        labels = [1.0 if rows[i]["gold_chosen"] > rows[i]["gold_rejected"] else 0.0 for i in gold]
        res = compare_models(col(rows, "reward_chosen", gold), col(rows, "reward_rejected", gold),
                             col(base_rows, "reward_chosen", gold), col(base_rows, "reward_rejected", gold),
                             labels=labels, n_resamples=n_resamples, seed=seed)
        out.gold_agreement = diff(res, len(gold))
    return out


def compare_folders(models: Mapping[str, str | Path | Sequence[str | Path]], n_resamples: int = 1000,
                    seed: int = 0) -> dict[str, Any]:
    """Side-by-side numbers of several models' eval/audit folders; the first is the baseline.

    Args:
        models: {name: folder(s)} in display order: one folder holding metrics.json (+ scores_<name>.jsonl)
            and/or audit.json, or several ("eval_dir,audit_dir" or a list), the first of each kind counting. The
            first entry is the baseline the others are compared with.
        n_resamples: bootstrap resamples of the paired differences.
        seed: seed of the bootstrap and the permutation test.

    Returns:
        dict: "baseline", "models" ({name: {folders, model, training, datasets, audit}}) and "notes".

    Raises:
        RewardlabError: fewer than two models, a folder with neither metrics.json nor audit.json, or invalid JSON.

    Example:
        >>> import tempfile
        >>> from rewardlab import CallableScorer, evaluate, simulate_pairs
        >>> from rewardlab.simulate.datasets import parse_rows
        >>> data = {"sim": parse_rows(simulate_pairs(60, seed=0))}
        >>> tmp = tempfile.TemporaryDirectory()
        >>> for name, fn in (("longer", len), ("shorter", lambda r: -len(r))):
        ...     _ = evaluate(CallableScorer(lambda p, r, fn=fn: fn(r), name=name), data, f"{tmp.name}/{name}",
        ...                  n_resamples=100, progress=False, plots=False)
        >>> res = compare_folders({"longer": f"{tmp.name}/longer", "shorter": f"{tmp.name}/shorter"}, n_resamples=100)
        >>> res["baseline"], sorted(res["models"]["shorter"]["datasets"]["sim"]["vs_baseline"])
        ('longer', ['accuracy', 'gold_agreement', 'n'])
        >>> tmp.cleanup()
    """
    return jsonable(compare(models, n_resamples=n_resamples, seed=seed).to_dict())


def compare(models: Mapping[str, str | Path | Sequence[str | Path]], n_resamples: int = 1000,
            seed: int = 0) -> Comparison:
    """`compare_folders` as a typed `rewardlab.results.compare.Comparison` (what comparison.json holds).

    Args:
        models: {name: folder(s)}, the first the baseline (see `compare_folders`).
        n_resamples: bootstrap resamples of the paired differences.
        seed: seed of the bootstrap and the permutation test.

    Returns:
        Comparison: the baseline's name, each model's numbers, notes.

    Raises:
        RewardlabError: see `compare_folders`.

    Example:
        >>> compare({"bt": "runs/bt/check", "odin": "runs/odin/check"}).baseline  # doctest: +SKIP
        'bt'
    """
    if len(models) < 2:
        raise RewardlabError("a comparison needs at least two models (the first is the baseline)")
    names = list(models)
    base = names[0]
    out = Comparison(baseline=base, models={})
    eval_folder: dict[str, Path | None] = {}
    for name in names:
        folders = _folders(models[name])
        metrics: EvalMetrics | None = None
        audit: AuditReport | None = None
        eval_folder[name] = None
        for folder in folders:
            mpath, apath = folder / "metrics.json", folder / "audit.json"
            if not mpath.exists() and not apath.exists():
                raise RewardlabError(f"{folder}: no metrics.json or audit.json (run `rewardlab eval -o {folder}` "
                                     f"and/or `rewardlab audit -o {folder}` for model {name!r})")
            if mpath.exists() and metrics is None:
                metrics, eval_folder[name] = read_result(mpath, EvalMetrics), folder
            if apath.exists() and audit is None:
                audit = read_result(apath, AuditReport)
        folder = eval_folder[name] or folders[0]
        model = (metrics.model if metrics else None) or (audit.model if audit else None)
        entry = ComparedModel(folders=[str(f) for f in folders], model=model, training=_training(model),
                              audit=_audit_summary(audit) if audit else None)
        for ds, m in (metrics.datasets if metrics else {}).items():
            if not isinstance(m, PairsMetrics):
                continue
            d = ComparedDataset(n=m.n, accuracy=m.accuracy,
                                gold_agreement=m.gold_agreement.agreement if m.gold_agreement else None,
                                length_correlation=_pair_length_corr(_scores(folder, ds), n_resamples, seed))
            if name != base:
                base_folder = eval_folder[base]
                base_rows = _scores(base_folder, ds) if base_folder else {}
                if base_rows:
                    d.vs_baseline = _paired(base_rows, _scores(folder, ds), n_resamples, seed)
                else:
                    out.notes.append(f"{name}: dataset {ds!r} was not evaluated for the baseline {base!r}")
            entry.datasets[ds] = d
        out.models[name] = entry
    return out


def _diff(d: PairedDifference | None) -> str:
    if not d:
        return ""
    x = d.difference
    return (f"<br><small>{x.estimate:+.3f} [{x.lo:+.3f}, {x.hi:+.3f}] vs baseline, "
            f"p = {d.p_value:.3g}</small>")


def _training_text(t: TrainingInfo | None) -> str:
    if not t:
        return "n/a"
    bits = [f"{t.head} head", str(t.loss or "")]
    if t.balance:
        bits.append(f"--balance length ({t.balance})")
    if t.augment:
        bits.append(f"--augment {t.augment}")
    return ", ".join(b for b in bits if b)


def comparison_html(res: Comparison | dict[str, Any], title: str | None = None) -> str:
    """The comparison page (self-contained HTML) of a `compare_folders` result (typed or as its dict)."""
    from rewardlab.report.page import CSS

    res = Comparison.coerce(res)
    models = res.models
    names = list(models)
    head = "".join(f"<th>{esc(n)}{' (baseline)' if n == res.baseline else ''}</th>" for n in names)

    def row(label: str, cells: list[str], cls: str = "") -> str:
        return f"<tr{cls}><td>{esc(label)}</td>" + "".join(f"<td class=num>{c}</td>" for c in cells) + "</tr>"

    rows = [row("model", [esc(models[n].model or "n/a") for n in names]),
            row("training", [esc(_training_text(models[n].training)) for n in names])]
    datasets = list(dict.fromkeys(ds for n in names for ds in models[n].datasets))
    for ds in datasets:
        cells_acc, cells_gold = [], []
        for n in names:
            d = models[n].datasets.get(ds)
            vs = (d.vs_baseline if d else None) or VsBaseline(n=0)
            cells_acc.append("n/a" if not d else ci(d.accuracy) + _diff(vs.accuracy))
            cells_gold.append("n/a" if not d else ci(d.gold_agreement) + _diff(vs.gold_agreement))
        rows.append(row(f"{ds}: accuracy", cells_acc))
        for stat in ("within_pearson", "within_spearman"):
            cells = []
            for n in names:
                d = models[n].datasets.get(ds)
                lc = (d.length_correlation if d else None) or {}
                cells.append(ci(lc.get(stat), 2))
            if any(c != "n/a" for c in cells):
                rows.append(row(f"{ds}: reward vs length within pair ({stat.split('_')[1]}, characters)", cells))
        if any((d := models[n].datasets.get(ds)) and d.gold_agreement for n in names):
            rows.append(row(f"{ds}: gold agreement", cells_gold))
    audits = {n: models[n].audit for n in names}
    if any(audits.values()):
        def au(fmt: Callable[[AuditSummary], str]) -> list[str]:
            return ["n/a" if not a else fmt(a) for a in audits.values()]

        rows.append(row("audit: flags", au(lambda a: esc(a.n_flags))))
        for stat in LENGTH_STATS:
            rows.append(row(f"reward vs length: {stat.replace('_', ' ')}",
                            au(lambda a, stat=stat: ci(a.length_correlation.get(stat), 2))))
        rows.append(row("length-balanced accuracy", au(lambda a: ci(a.length_balanced_accuracy))))
        rows.append(row("accuracy where chosen is shorter", au(lambda a: ci(a.chosen_shorter_accuracy))))
        probes = list(dict.fromkeys(k for a in audits.values() if a for k in a.adversarial))
        for p in probes:
            rows.append(row(f"adversarial {p}: outscores the real response",
                            ["n/a" if not a or a.adversarial.get(p) is None else ci(a.adversarial[p], pct=True)
                             for a in audits.values()]))
    flag_lists = "".join(
        f"<h3>{esc(n)}</h3>" + ("".join(f"<div class=warn>{esc(f)}</div>" for f in a.flags)
                                or "<div class=ok>no flags</div>")
        for n, a in audits.items() if a)
    notes = "".join(f"<p class=meta>note: {esc(x)}</p>" for x in res.notes)
    t = esc(title or "Reward models side by side")
    return f"""<!doctype html><html lang=en><head><meta charset=utf-8>
<meta name=viewport content="width=device-width, initial-scale=1">
<title>{t}</title><style>{CSS}</style></head><body><main>
<h1>{t}</h1>
<div class=meta>baseline: {esc(res.baseline)}; differences are (model - baseline) on the same pairs, 95% paired
bootstrap CI and sign-flip p-value</div>
<table><tr><th></th>{head}</tr>{''.join(rows)}</table>{notes}
<h2>Audit flags</h2>{flag_lists or '<p>no audits</p>'}
</main></body></html>"""


def build_comparison(models: Mapping[str, str | Path | Sequence[str | Path]], output: str | Path,
                     title: str | None = None,
                     n_resamples: int = 1000, seed: int = 0) -> Path:
    """Write output/comparison.json and output/comparison.html for several models; returns the HTML path.

    Args:
        models: {name: eval and/or audit folder(s)}; the first is the baseline (see `compare_folders`).
        output: the folder to write (created when missing).
        title: the page title.
        n_resamples: bootstrap resamples of the paired differences.
        seed: seed of the bootstrap and the permutation test.

    Returns:
        Path: output/comparison.html.

    Raises:
        RewardlabError: see `compare_folders`.

    Example:
        >>> build_comparison({"bt": "runs/bt/check", "odin": "runs/odin/check"}, "runs/cmp")  # doctest: +SKIP
        PosixPath('runs/cmp/comparison.html')
    """
    res = Comparison.from_dict(compare_folders(models, n_resamples=n_resamples, seed=seed))
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    write_result(out / "comparison.json", res)
    page = out / "comparison.html"
    page.write_text(comparison_html(res, title), encoding="utf-8")
    return page
