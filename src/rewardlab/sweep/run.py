"""`rewardlab sweep`: train a ladder of reward models on one split, evaluate each the same way, and write the
scaling table and its plot.

Every run reads the same pairs (read once; runs on one tokenizer tokenise them once, frozen runs on one backbone
compute its pooled features once) and is scored on the same held-out pairs, the same sample of its training pairs
and the same adversarial probe items. Per run:

- parameters, total and trainable (LoRA: adapters and head; frozen: the head);
- held-out accuracy with a 95% bootstrap CI (clustered by prompt), and gold agreement with its CI where the pairs
  carry the simulator's gold utilities;
- length correlation: Spearman of the reward with the response length (characters) over the distinct held-out
  responses;
- train accuracy on up to `train_eval_n` of the pairs it trained on, and the generalisation gap (train minus
  held-out accuracy);
- the adversarial probes' win shares (token soup, prompt echo, off-prompt answer beating the real response);
- wall time of training and of evaluation.

A variant row is also compared with the plain run of its rung on the same pairs: paired differences of accuracy
and gold agreement (95% CIs) and McNemar's exact test per probe. It "helps" (the issue's rule) when the gold
agreement difference has its whole CI above 0 and no probe wins significantly more often. A variant whose paired
accuracy difference is below -1 point (`ACCURACY_WARN`) gets a warning: in the printed summary (after the table),
sweep.md and sweep.json's `warnings`, with whether its CI excludes 0 (then the mitigation lowers accuracy, not only
noise).

Each run writes runs/<slug>/result.json (its row, its rewards and a fingerprint of everything that made it). A
sweep started again in the same folder reuses a run whose fingerprint matches and refuses one that does not
(`overwrite` retrains); the `length-control` variant is computed from the plain run's stored rewards.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rewardlab.data.schema import PreferencePair, text_of
from rewardlab.errors import RewardlabError
from rewardlab.sweep.ladder import RESCORED, VARIANTS, Rung
from rewardlab.sweep.spec import SweepSpec

logger = logging.getLogger(__name__)

RESULT_SCHEMA = "rewardlab.sweep/1"
RUN_SCHEMA = "rewardlab.sweep_run/1"
PROBE_ALPHA = 0.05
ACCURACY_WARN = 0.01  # a variant whose held-out accuracy falls more than this below plain's is warned about
LC_FEATURE = "log_chars"


# ---------------------------------------------------------------------------------------------- probe items


@dataclass
class ProbeItems:
    """The adversarial probe items every model is scored on: per prompt its real response, then each probe's
    response where the probe has one (`rewardlab.audit.adversarial`)."""

    prompts: list[Any]
    responses: list[Any]
    n_ref: int
    where: dict[str, list[int]]  # probe -> indices (into the first n_ref items) of the prompts it has an item for

    @classmethod
    def build(cls, pairs: Sequence[PreferencePair], k: int, seed: int) -> ProbeItems:
        """Up to k held-out prompts and their probe items (none when k is 0)."""
        if k <= 0:
            return cls([], [], 0, {})
        from rewardlab.probes.adversarial import ADVERSARIAL, adversarial_responses, reference_items

        prompts, refs, _ = reference_items(list(pairs), k, seed)
        names = list(ADVERSARIAL)
        adv = adversarial_responses(prompts, refs, names, seed)
        items_p, items_r, where = list(prompts), list(refs), {}
        for name in names:
            where[name] = [i for i, a in enumerate(adv[name]) if a is not None]
            items_p += [prompts[i] for i in where[name]]
            items_r += [adv[name][i] for i in where[name]]
        return cls(items_p, items_r, len(prompts), where)

    def wins(self, rewards: np.ndarray) -> dict[str, np.ndarray]:
        """Per probe, whether its response out-scores the real one, per prompt it has an item for."""
        out, start = {}, self.n_ref
        tol = 1e-9 * max(1.0, float(np.abs(rewards).max())) if rewards.size else 0.0
        for name, idx in self.where.items():
            m = len(idx)
            out[name] = rewards[start : start + m] - rewards[np.asarray(idx, dtype=int)] > tol
            start += m
        return out


# ---------------------------------------------------------------------------------------------- metrics


def _cluster(prompts: Sequence[Any]) -> np.ndarray | None:
    keys = [json.dumps(p, sort_keys=True, ensure_ascii=False) for p in prompts]
    return np.array(keys) if len(set(keys)) < len(keys) else None


def _labels(pairs: Sequence[PreferencePair]) -> np.ndarray:
    return np.array([0.5 if p.tie else (1.0 if p.label is None else float(p.label)) for p in pairs])


def has_gold(pairs: Sequence[PreferencePair]) -> bool:
    """Whether every pair carries the simulator's gold utilities."""
    return bool(pairs) and all("gold_chosen" in p.extra and "gold_rejected" in p.extra for p in pairs)


def gold_columns(pairs: Sequence[PreferencePair]) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([p.extra["gold_chosen"] for p in pairs], dtype=float),
            np.array([p.extra["gold_rejected"] for p in pairs], dtype=float))


def length_spearman(pairs: Sequence[PreferencePair], rc: np.ndarray, rr: np.ndarray) -> float | None:
    """Spearman correlation of reward and response length (characters) over the distinct (prompt, response)
    items of the pairs; None when either is constant."""
    from scipy.stats import spearmanr

    seen: dict[str, tuple[float, float]] = {}
    for p, a, b in zip(pairs, rc, rr, strict=True):
        for resp, r in ((p.chosen, a), (p.rejected, b)):
            key = json.dumps([p.prompt, resp], sort_keys=True, ensure_ascii=False)
            seen.setdefault(key, (float(r), float(len(text_of(resp)))))
    if len(seen) < 3:
        return None
    r, ln = np.array(list(seen.values())).T
    if np.ptp(r) == 0 or np.ptp(ln) == 0:
        return None
    return float(spearmanr(r, ln).statistic)


def _ci(estimate: float, lo: float, hi: float) -> dict[str, float]:
    return {"estimate": float(estimate), "lo": float(lo), "hi": float(hi)}


def run_metrics(eval_pairs: Sequence[PreferencePair], rc: np.ndarray, rr: np.ndarray,
                train_pairs: Sequence[PreferencePair], tc: np.ndarray, tr: np.ndarray,
                probes: ProbeItems, probe_rewards: np.ndarray, n_resamples: int = 1000,
                seed: int = 0) -> dict[str, Any]:
    """The table's measurements of one model from its rewards.

    Args:
        eval_pairs, rc, rr: held-out pairs and the rewards of their chosen and rejected responses.
        train_pairs, tc, tr: the scored training pairs and their rewards.
        probes, probe_rewards: the probe items and their rewards (in item order).
        n_resamples, seed: the bootstrap of the CIs (clustered by prompt when prompts repeat).

    Returns:
        dict: accuracy and gold_agreement ({estimate, lo, hi}; gold None without gold), length_spearman,
        train_accuracy, gap, probes ({probe: win share}), n_eval, n_train_scored.
    """
    from rewardlab.stats.bootstrap import bootstrap_mean_ci
    from rewardlab.stats.calibration import pairwise_correct

    y = _labels(eval_pairs)
    cluster = _cluster([p.prompt for p in eval_pairs])
    correct = pairwise_correct(rc - rr, y)
    out: dict[str, Any] = {"n_eval": int(len(eval_pairs)),
                           "accuracy": _ci(*bootstrap_mean_ci(correct, n_resamples, seed=seed, cluster=cluster))}
    out["gold_agreement"] = None
    if has_gold(eval_pairs):
        agree, used = gold_agree_items(rc, rr, *gold_columns(eval_pairs))
        if agree.size:
            sub = cluster[used] if cluster is not None else None
            out["gold_agreement"] = _ci(*bootstrap_mean_ci(agree, n_resamples, seed=seed, cluster=sub))
    out["length_spearman"] = length_spearman(eval_pairs, rc, rr)
    train_acc = float(pairwise_correct(tc - tr, _labels(train_pairs)).mean()) if len(train_pairs) else None
    out["train_accuracy"] = train_acc
    out["n_train_scored"] = int(len(train_pairs))
    out["gap"] = None if train_acc is None else train_acc - out["accuracy"]["estimate"]
    out["probes"] = {name: float(w.mean()) if w.size else None for name, w in probes.wins(probe_rewards).items()}
    return out


def gold_agree_items(rc: np.ndarray, rr: np.ndarray, gc: np.ndarray, gr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pair with a gold order: 1 when the rewards order it as gold does, 0.5 for a reward tie, else 0; and the
    mask of those pairs (gold ties carry no order)."""
    d, gd = rc - rr, gc - gr
    used = gd != 0
    agree = np.where(d == 0, 0.5, (np.sign(d) == np.sign(gd)).astype(float))[used]
    return agree, used


def compare_with_plain(eval_pairs: Sequence[PreferencePair], plain: dict[str, Any], other: dict[str, Any],
                       probes: ProbeItems, n_resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Paired comparison of a variant with its rung's plain run on the same held-out pairs and probe items.

    Returns:
        dict: accuracy and gold_agreement differences (variant minus plain, {estimate, lo, hi}; gold None
        without gold), per probe {new_wins, lost_wins, p_value, worse}, and helps (gold difference CI above 0 and
        no probe worse; None without gold).
    """
    from rewardlab.eval.length_control import mcnemar_exact
    from rewardlab.stats.bootstrap import bootstrap_mean_ci
    from rewardlab.stats.calibration import pairwise_correct

    y = _labels(eval_pairs)
    cluster = _cluster([p.prompt for p in eval_pairs])
    a = pairwise_correct(plain["rc"] - plain["rr"], y)
    b = pairwise_correct(other["rc"] - other["rr"], y)
    out: dict[str, Any] = {"accuracy": _ci(*bootstrap_mean_ci(b - a, n_resamples, seed=seed, cluster=cluster)),
                           "gold_agreement": None}
    if has_gold(eval_pairs):
        gold = gold_columns(eval_pairs)
        ga, used = gold_agree_items(plain["rc"], plain["rr"], *gold)
        gb, _ = gold_agree_items(other["rc"], other["rr"], *gold)
        if ga.size:
            sub = cluster[used] if cluster is not None else None
            out["gold_agreement"] = _ci(*bootstrap_mean_ci(gb - ga, n_resamples, seed=seed, cluster=sub))
    wa, wb = probes.wins(plain["probe"]), probes.wins(other["probe"])
    out["probes"] = {}
    for name in wa:
        new, lost = int((wb[name] & ~wa[name]).sum()), int((wa[name] & ~wb[name]).sum())
        p = mcnemar_exact(new, lost)
        out["probes"][name] = {"new_wins": new, "lost_wins": lost, "p_value": p,
                               "worse": bool(new > lost and p < PROBE_ALPHA)}
    worse = any(v["worse"] for v in out["probes"].values())
    g = out["gold_agreement"]
    out["helps"] = None if g is None else bool(g["lo"] > 0 and not worse)
    out["accuracy_drop"] = bool(out["accuracy"]["hi"] < 0)
    out["accuracy_warning"] = bool(out["accuracy"]["estimate"] < -ACCURACY_WARN)
    return out


def accuracy_warnings(rows: Sequence[dict[str, Any]]) -> list[str]:
    """One sentence per variant row whose paired held-out accuracy difference with plain is below -1 point.

    Args:
        rows: the sweep's rows (a variant row carries `vs_plain` from `compare_with_plain`).

    Returns:
        list[str]: the warnings, in row order; empty when no variant loses more than a point.

    Example:
        >>> row = {"rung": "minilm:6", "variant": "head-disentangled", "vs_plain": {"accuracy": {"estimate":
        ...        -0.059, "lo": -0.112, "hi": -0.007}, "accuracy_drop": True, "accuracy_warning": True}}
        >>> accuracy_warnings([row])[0][:75]
        'minilm:6 head-disentangled: held-out accuracy -5.9 points against plain [-1'
    """
    out = []
    for r in rows:
        vs = r.get("vs_plain") or {}
        if not vs.get("accuracy_warning"):
            continue
        acc = vs["accuracy"]
        verdict = ("the CI excludes 0: this mitigation lowers accuracy on these data" if acc["hi"] < 0 else
                   "the CI includes 0, so the drop may be noise")
        out.append(f"{r['rung']} {r['variant']}: held-out accuracy {100 * acc['estimate']:+.1f} points against plain "
                   f"[{100 * acc['lo']:+.1f}, {100 * acc['hi']:+.1f}] (more than {100 * ACCURACY_WARN:.0f} point "
                   f"lost); {verdict}")
    return out


# ---------------------------------------------------------------------------------------------- one run


def count_parameters(model: Any) -> tuple[int, int]:
    """(total, trainable) parameters of a reward model; peft's untouched copy of the head is not counted."""
    total = trainable = 0
    for name, p in model.named_parameters():
        if ".original_module." in name:
            continue
        total += p.numel()
        trainable += p.numel() if p.requires_grad else 0
    return total, trainable


def _sample(n: int, k: int, seed: int) -> list[int]:
    if k <= 0 or k >= n:
        return list(range(n))
    return sorted(np.random.default_rng([seed, 7]).choice(n, size=k, replace=False).tolist())


def _score(scorer: Any, pairs: Sequence[PreferencePair]) -> tuple[np.ndarray, np.ndarray]:
    if not pairs:
        return np.zeros(0), np.zeros(0)
    n = len(pairs)
    out = scorer.score([p.prompt for p in pairs] * 2, [p.chosen for p in pairs] + [p.rejected for p in pairs],
                       progress=False)
    return np.asarray(out.mean[:n], dtype=float), np.asarray(out.mean[n:], dtype=float)


def _fingerprint(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    os.replace(tmp, path)


def _diff(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += _diff(va, vb, prefix + k + ".")
        elif va != vb:
            out.append(f"{prefix}{k}: {va!r} -> {vb!r}")
    return out


@dataclass
class _Context:
    """What every run of one sweep shares."""

    spec: SweepSpec
    out: Path
    data: Any  # TrainData, read once
    data_fp: str
    probes: ProbeItems
    encode_cache: dict[Any, Any] = field(default_factory=dict)
    feature_cache: dict[Any, Any] = field(default_factory=dict)


def _settings(ctx: _Context, rung: Rung, variant: str) -> dict[str, Any]:
    """Everything that decides a run's result (its fingerprint is a hash of this)."""
    base = "plain" if variant in RESCORED else variant
    cfg = ctx.spec.run_config(rung, base, "<run>").to_dict()
    cfg["run"] = {k: v for k, v in cfg["run"].items() if k not in ("output", "progress", "resume", "logging_steps",
                                                                   "report_to", "save_total_limit")}
    s = ctx.spec
    # not n_resamples: the CIs are computed from the stored rewards on every call
    return {"schema": RUN_SCHEMA, "rung": rung.label, "variant": variant, "train": cfg, "data": ctx.data_fp,
            "train_eval_n": s.train_eval_n, "probes": s.probes}


def _train_and_score(ctx: _Context, rung: Rung, variant: str, folder: Path) -> dict[str, Any]:
    """Train one run, score it, and return its stored record (row measurements and rewards)."""
    from rewardlab.scoring import ModelScorer
    from rewardlab.train.trainer import clean_checkpoints, train

    spec = ctx.spec
    model_dir = folder / "model"
    cfg = spec.run_config(rung, variant, str(model_dir))
    logger.info("sweep: training %s (%s)", rung.label, variant)
    t0 = time.perf_counter()
    # no held-out pairs inside training: the sweep scores them itself, once, below
    res = train(cfg, data=dataclasses.replace(ctx.data, eval=[]), encode_cache=ctx.encode_cache,
                feature_cache=ctx.feature_cache)
    train_s = time.perf_counter() - t0
    total, trainable = count_parameters(res.loaded.model)
    t1 = time.perf_counter()
    scorer = ModelScorer(res.loaded, name=rung.label, bf16=cfg.run.bf16)  # scored in the precision it trained in
    data = res.data
    rc, rr = _score(scorer, ctx.data.eval)
    idx = _sample(len(data.train), spec.train_eval_n, spec.train.run.seed)
    train_pairs = [data.train[i] for i in idx]
    tc, tr = _score(scorer, train_pairs)
    probe = (np.asarray(scorer.score(ctx.probes.prompts, ctx.probes.responses, progress=False).mean, dtype=float)
             if ctx.probes.prompts else np.zeros(0))
    eval_s = time.perf_counter() - t1
    info = {"backbone": rung.backbone, "layers": int(res.loaded.model.config.num_hidden_layers),
            "mode": rung.mode, "head": (f"mlp{rung.mlp}" if rung.mlp else "linear") + (
                f" {cfg.model.head.kind}" if cfg.model.head.kind != "scalar" else ""),
            "params_total": total, "params_trainable": trainable, "n_train": len(data.train),
            "train_s": train_s, "eval_s": eval_s, "n_truncated": res.n_truncated}
    del res, scorer
    if spec.keep_models:
        clean_checkpoints(str(model_dir))
    else:
        shutil.rmtree(model_dir, ignore_errors=True)
    rebuilt = cfg.balance.enabled or cfg.augment.enabled  # trained on pairs of its own, rebuilt by setup_data
    return {"info": info, "train_pairs": "rebuilt" if rebuilt else "shared",
            "rewards": {"rc": rc.tolist(), "rr": rr.tolist(), "train_idx": idx, "tc": tc.tolist(),
                        "tr": tr.tolist(), "probe": probe.tolist()}}


def _length_controlled(ctx: _Context, rung: Rung, plain: dict[str, Any]) -> dict[str, Any]:
    """The length-control variant from the plain run's stored rewards: the label fit cross-fitted on the held-out
    pairs (each prompt half corrected by the other half's fit), applied to the held-out, training and probe
    rewards alike."""
    from rewardlab.eval.length_control import apply_cross_fit, cross_fit_models, pair_data

    t0 = time.perf_counter()
    ev = ctx.data.eval
    rw = plain["rewards"]
    rc, rr = np.asarray(rw["rc"]), np.asarray(rw["rr"])
    lc, lr, y, prompts = pair_data(ev)
    fits = cross_fit_models(rc, rr, lc, lr, prompts, LC_FEATURE, y)

    def q(r: Sequence[float], texts: Sequence[Any], ps: Sequence[Any]) -> list[float]:
        ln = np.array([len(text_of(t)) for t in texts], dtype=float)
        return apply_cross_fit(fits, np.asarray(r, dtype=float), ln, ps).tolist() if len(ps) else []

    train_pairs = _train_pairs_of(ctx, rung, "plain", plain)
    tp = [p.prompt for p in train_pairs]
    rewards = {"rc": q(rc, [p.chosen for p in ev], prompts), "rr": q(rr, [p.rejected for p in ev], prompts),
               "train_idx": rw["train_idx"], "tc": q(rw["tc"], [p.chosen for p in train_pairs], tp),
               "tr": q(rw["tr"], [p.rejected for p in train_pairs], tp),
               "probe": q(rw["probe"], ctx.probes.responses, ctx.probes.prompts)}
    info = {**plain["info"], "eval_s": time.perf_counter() - t0, "train_s": 0.0,
            "length_control": {"feature": LC_FEATURE, "folds": [f.to_dict() for f in fits]}}
    return {"info": info, "train_pairs": plain.get("train_pairs", "shared"), "rewards": rewards}


# ---------------------------------------------------------------------------------------------- the result


@dataclass
class SweepResult:
    """The ladder's table: one row per (rung, variant), the data it ran on, and the files written."""

    rows: list[dict[str, Any]]
    data: dict[str, Any]
    elapsed_s: float
    reused: list[str] = field(default_factory=list)
    spec: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with a schema tag."""
        return {"schema": RESULT_SCHEMA, **asdict(self)}

    def table_rows(self) -> list[dict[str, str]]:
        """The table's cells as text, one dict per row (the column names are the keys)."""
        out = []
        for r in self.rows:
            acc, gold = r["accuracy"], r.get("gold_agreement")
            probes = {k: v for k, v in (r.get("probes") or {}).items() if v is not None}
            vs = r.get("vs_plain") or {}
            cell = {
                "rung": r["rung"], "variant": r["variant"],
                "params": _millions(r["params_total"]), "trainable": _millions(r["params_trainable"]),
                "held-out acc [95% CI]": _ci_text(acc),
                "gold agreement [95% CI]": _ci_text(gold) if gold else "-",
                "length Spearman": _num(r.get("length_spearman")),
                "train acc": _num(r.get("train_accuracy")), "gap": _num(r.get("gap"), signed=True),
                "worst probe": (f"{max(probes.values()):.0%} {max(probes, key=probes.get)}" if probes else "-"),
                "train s": f"{r['train_s']:.0f}", "eval s": f"{r['eval_s']:.0f}",
                "vs plain (gold)": (_ci_text(vs["gold_agreement"], signed=True) if vs.get("gold_agreement")
                                    else (_ci_text(vs["accuracy"], signed=True) + " acc" if vs else "")),
                "probes worse": ",".join(k for k, v in vs.get("probes", {}).items() if v["worse"]) or (
                    "none" if vs else ""),
                "helps": {True: "yes", False: "no", None: ""}[vs.get("helps")] if vs else "",
            }
            out.append(cell)
        return out

    def markdown(self) -> str:
        """The table in Markdown, with a line on the data."""
        rows = self.table_rows()
        cols = list(rows[0]) if rows else []
        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(r[c] for c in cols) + " |" for r in rows]
        if self.warnings:
            lines += ["", "**Warnings:**", "", *(f"- {w}" for w in self.warnings)]
        return "\n".join([self.data_line(), "", *lines]) + "\n"

    def data_line(self) -> str:
        d = self.data
        text = f"data: {d['source']}: {d['n_train']} training pairs, {d['n_eval']} held-out ({d['eval_source']})"
        if d.get("gold_utility_accuracy") is not None:
            text += f"; the gold utility's own held-out accuracy {d['gold_utility_accuracy']:.3f}"
        if d.get("longer_wins") is not None:
            text += f"; longer response wins {d['longer_wins']:.1%} of held-out pairs"
        return text

    def lines(self) -> list[str]:
        """A plain-text summary: the data line and the table in aligned columns."""
        rows = self.table_rows()
        if not rows:
            return [self.data_line()]
        cols = [c for c in rows[0] if any(r[c] for r in rows)]
        width = {c: max(len(c), *(len(r[c]) for r in rows)) for c in cols}
        out = [self.data_line(), "  ".join(c.ljust(width[c]) for c in cols)]
        out += ["  ".join(r[c].ljust(width[c]) for c in cols) for r in rows]
        out += [f"WARNING: {w}" for w in self.warnings]
        out.append(f"{len(self.rows)} runs ({len(self.reused)} reused from the output folder) in "
                   f"{self.elapsed_s:.0f} s")
        return out


def _millions(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e5 else f"{n / 1e3:.1f}k"


def _num(x: float | None, signed: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:+.3f}" if signed else f"{x:.3f}"


def _ci_text(d: dict[str, float], signed: bool = False) -> str:
    f = "{:+.3f}" if signed else "{:.3f}"
    return f"{f.format(d['estimate'])} [{f.format(d['lo'])}, {f.format(d['hi'])}]"


def _write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    flat = []
    for r in rows:
        d: dict[str, Any] = {}
        for k, v in r.items():
            if isinstance(v, dict) and k in ("accuracy", "gold_agreement"):
                d[k], d[f"{k}_lo"], d[f"{k}_hi"] = v["estimate"], v["lo"], v["hi"]
            elif k == "probes":
                d.update({f"probe_{n}": s for n, s in (v or {}).items()})
            elif k == "vs_plain":
                for key in ("accuracy", "gold_agreement"):
                    c = (v or {}).get(key)
                    d[f"vs_plain_{key}"], d[f"vs_plain_{key}_lo"], d[f"vs_plain_{key}_hi"] = (
                        (c["estimate"], c["lo"], c["hi"]) if c else (None, None, None))
                d["helps"] = (v or {}).get("helps")
            elif not isinstance(v, dict | list):
                d[k] = v
            elif k == "gold_agreement":
                d[k] = None
        flat.append(d)
    keys = list(dict.fromkeys(k for d in flat for k in d))
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(flat)


def plot_sweep(result: SweepResult, path: Path) -> str:
    """sweep.png: held-out accuracy (and gold agreement where there is gold) against total parameters, with 95%
    CIs; plain runs joined by a line, variants as separate markers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    rows = result.rows
    metrics = [("accuracy", "held-out accuracy")]
    if any(r.get("gold_agreement") for r in rows):
        metrics.append(("gold_agreement", "gold agreement"))
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.6 * len(metrics), 4.4), squeeze=False)
    markers = dict(zip(VARIANTS, "osD^vP", strict=False))
    for ax, (key, title) in zip(axes[0], metrics, strict=True):
        for variant in dict.fromkeys(r["variant"] for r in rows):
            sel = [r for r in rows if r["variant"] == variant and r.get(key)]
            if not sel:
                continue
            x = np.array([r["params_total"] for r in sel], dtype=float)
            est = np.array([r[key]["estimate"] for r in sel])
            err = np.array([[e - r[key]["lo"] for r, e in zip(sel, est, strict=True)],
                            [r[key]["hi"] - e for r, e in zip(sel, est, strict=True)]])
            ax.errorbar(x, est, yerr=err, fmt=markers.get(variant, "o") + ("-" if variant == "plain" else ""),
                        capsize=3, label=variant, alpha=0.9)
            if variant == "plain":
                for r, xi, yi in zip(sel, x, est, strict=True):
                    ax.annotate(r["rung"], (xi, yi), textcoords="offset points", xytext=(4, -11), fontsize=7)
        if key == "accuracy" and result.data.get("gold_utility_accuracy") is not None:
            ax.axhline(result.data["gold_utility_accuracy"], ls="--", color="grey", lw=1,
                       label="the gold utility's accuracy")
        if key == "accuracy" and result.data.get("longer_wins") is not None:
            ax.axhline(result.data["longer_wins"], ls=":", color="grey", lw=1, label="longer wins")
        ax.set_xscale("log")
        millions = FuncFormatter(lambda v, _: f"{v / 1e6:.3g}M")
        ax.xaxis.set_major_formatter(millions)
        ax.xaxis.set_minor_formatter(millions)
        ax.tick_params(axis="x", which="minor", labelsize=7)
        ax.set_xlabel("parameters (total)")
        ax.set_ylabel(title)
        ax.set_title(f"{title} vs size")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


# ---------------------------------------------------------------------------------------------- run


def _preflight(spec: SweepSpec) -> None:
    """Every rung's backbone resolves and has the layers asked for, and every run's settings are valid, before
    any training starts."""
    from transformers import AutoConfig

    from rewardlab.models.backbone import resolve_model_path

    for rung, variant in spec.runs():
        spec.run_config(rung, "plain" if variant in RESCORED else variant, "<run>")
    for rung in spec.ladder():
        if rung.layers is None:
            continue
        path = resolve_model_path(rung.backbone)
        try:
            have = AutoConfig.from_pretrained(path).num_hidden_layers
        except Exception as e:  # noqa: BLE001 - any load failure is reported with the rung
            raise RewardlabError(f"rung {rung.label}: cannot read the config of {path!r}: {e}") from None
        if rung.layers > have:
            raise RewardlabError(f"rung {rung.label}: the backbone has {have} layers, not {rung.layers}")


def run(spec: SweepSpec) -> SweepResult:
    """Train and evaluate every run of the ladder, reusing finished runs, and write the table and the plot.

    Args:
        spec: the validated settings; `spec.train` holds the train settings every run shares.

    Returns:
        SweepResult: one row per (rung, variant) with the measurements listed in the module docstring; also
        written: sweep.json, sweep.csv, sweep.md, sweep.png and runs/<slug>/result.json in spec.output.

    Raises:
        RewardlabError: no output folder; a rung whose backbone cannot be read or lacks the layers asked for;
            a run's settings that break a train rule; a finished run in the folder made with other settings
            (without `overwrite`); or what training raises.

    Example:
        >>> from rewardlab.sweep import SweepSpec, run_sweep
        >>> from rewardlab.train.config import TrainConfig
        >>> res = run_sweep(SweepSpec(output="runs/ladder", rungs=["minilm:1", "minilm:6"],
        ...                           train=TrainConfig.from_options(sim_n=1000, lr=1e-4)))  # doctest: +SKIP
        >>> [r["accuracy"]["estimate"] for r in res.rows]  # doctest: +SKIP
    """
    from rewardlab.models.checkpoint import data_fingerprint
    from rewardlab.train.trainer import load_train_data

    if not spec.output:
        raise RewardlabError("--output is required: the folder for the table, the plot and each run's result")
    t0 = time.perf_counter()
    out = Path(spec.output)
    _preflight(spec)
    data = load_train_data(spec.train)
    if not data.train or not data.eval:
        raise RewardlabError(f"a sweep needs training and held-out pairs; got {len(data.train)} and "
                             f"{len(data.eval)} (give --eval-data or an --eval-split above 0)")
    ctx = _Context(spec, out, data, data_fingerprint(data.train + data.eval),
                   ProbeItems.build(data.eval, spec.probes, spec.train.run.seed))
    plan = spec.runs()
    settings = {(r.label, v): _settings(ctx, r, v) for r, v in plan}
    slugs = {(r.label, v): r.slug + ("" if v == "plain" else f"__{v}") for r, v in plan}
    records: dict[tuple[str, str], dict[str, Any]] = {}
    reused: list[str] = []
    for key, s in settings.items():  # refuse a folder of other settings before training anything
        path = out / "runs" / slugs[key] / "result.json"
        if path.exists() and not spec.overwrite:
            prev = json.loads(path.read_text())
            if prev.get("fingerprint") != _fingerprint(s):
                changed = _diff(prev.get("settings", {}), s)
                raise RewardlabError(f"{path} was made with other settings ({'; '.join(changed[:4]) or 'schema'}); "
                                     "pass --overwrite to retrain, or choose another --output")
            records[key] = prev
            reused.append(f"{key[0]} ({key[1]})")
    out.mkdir(parents=True, exist_ok=True)
    for rung, variant in plan:
        key = (rung.label, variant)
        if key in records:
            logger.info("sweep: %s (%s) reused from %s", rung.label, variant, out / "runs" / slugs[key])
            continue
        folder = out / "runs" / slugs[key]
        folder.mkdir(parents=True, exist_ok=True)
        if variant in RESCORED:
            rec = _length_controlled(ctx, rung, records[(rung.label, "plain")])
        else:
            rec = _train_and_score(ctx, rung, variant, folder)
        s = settings[key]
        rec = {"schema": RUN_SCHEMA, "fingerprint": _fingerprint(s), "settings": s, **rec}
        _write_json(folder / "result.json", rec)
        records[key] = rec
    rows = [_make_row(ctx, rung, variant, records) for rung, variant in plan]
    ev = data.eval
    lc_, lr_, y, _ = _pair_arrays(ev)
    from rewardlab.stats.calibration import pairwise_correct

    meta = {"source": data.source, "eval_source": data.eval_source, "n_train": len(data.train), "n_eval": len(ev),
            "fingerprint": ctx.data_fp, "longer_wins": float(pairwise_correct(lc_ - lr_, y).mean()),
            "gold_utility_accuracy": None, "n_probe_prompts": ctx.probes.n_ref}
    if has_gold(ev):
        gc, gr = gold_columns(ev)
        meta["gold_utility_accuracy"] = float(pairwise_correct(gc - gr, y).mean())
    res = SweepResult(rows, meta, time.perf_counter() - t0, reused, spec.to_dict(), warnings=accuracy_warnings(rows))
    files = [out / "sweep.json", out / "sweep.csv", out / "sweep.md"]
    _write_csv(rows, files[1])
    files[2].write_text(res.markdown())
    if spec.plot:
        try:
            files.append(Path(plot_sweep(res, out / "sweep.png")))
        except ImportError:
            logger.warning("matplotlib is not installed: no sweep.png")
    res.files = [str(f) for f in files]
    _write_json(files[0], res.to_dict())
    return res


def _pair_arrays(pairs: Sequence[PreferencePair]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Any]]:
    from rewardlab.eval.length_control import pair_data

    return pair_data(pairs)


def _train_pairs_of(ctx: _Context, rung: Rung, variant: str, rec: dict[str, Any]) -> list[PreferencePair]:
    """The training pairs a run's train-accuracy sample indexes: the shared training pairs, or for a balanced
    run (or an augmented one) its own pairs, rebuilt deterministically as training built them."""
    if rec.get("train_pairs") != "rebuilt":
        return [ctx.data.train[i] for i in rec["rewards"]["train_idx"]]
    from rewardlab.train.trainer import setup_data

    quiet = logging.getLogger("rewardlab.train")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # training logged the balancing report and its notes already
    try:
        data = setup_data(ctx.spec.run_config(rung, variant, "<run>"), ctx.data)
    finally:
        quiet.setLevel(level)
    return [data.train[i] for i in rec["rewards"]["train_idx"]]


def _make_row(ctx: _Context, rung: Rung, variant: str, records: dict[tuple[str, str], dict[str, Any]]
              ) -> dict[str, Any]:
    rec = records[(rung.label, variant)]
    rw = rec["rewards"]
    base = rec if variant not in RESCORED else records[(rung.label, "plain")]
    train_pairs = _train_pairs_of(ctx, rung, "plain" if variant in RESCORED else variant, base)
    m = run_metrics(ctx.data.eval, np.asarray(rw["rc"]), np.asarray(rw["rr"]), train_pairs,
                    np.asarray(rw["tc"]), np.asarray(rw["tr"]), ctx.probes, np.asarray(rw["probe"]),
                    ctx.spec.n_resamples, ctx.spec.train.run.seed)
    row = {"rung": rung.label, "variant": variant, **rec["info"], **m}
    if variant != "plain":
        plain = records[(rung.label, "plain")]["rewards"]
        row["vs_plain"] = compare_with_plain(
            ctx.data.eval, {k: np.asarray(plain[k]) for k in ("rc", "rr", "probe")},
            {k: np.asarray(rw[k]) for k in ("rc", "rr", "probe")}, ctx.probes, ctx.spec.n_resamples,
            ctx.spec.train.run.seed)
    return row
