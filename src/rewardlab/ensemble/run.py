"""Train the members of a diverse ensemble and save them as one folder (`rewardlab train-ensemble`).

Each member is an ordinary `rewardlab train` run (its rung sets backbone, depth, LoRA or full; its seed sets
initialisation and data order) on the same training pairs, saved to `members/NN-RUNG/`. After training, a member
scores `calibration_n` training responses; their mean and standard deviation become its offset and scale in the
manifest, so every consumer compares members on one scale. The cost of each member (wall time, parameters,
trainable parameters) is logged and written. With held-out pairs, ensemble.json holds each member's and the
ensemble's held-out accuracy (95% CI, clustered by prompt), the mean correlation between members' rewards (how
different they are), and on simulator data the gold agreement and the Spearman correlation between the members'
spread and the ensemble's error against gold (whether they disagree where they are wrong).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rewardlab.data.schema import PreferencePair
from rewardlab.ensemble.spec import EnsembleSpec
from rewardlab.errors import RewardlabError
from rewardlab.scoring.ensemble import ENSEMBLE_FORMAT, MANIFEST, combine_members
from rewardlab.version import __version__

logger = logging.getLogger(__name__)

RESULT_SCHEMA = "rewardlab.ensemble/1"
MEMBER_FILE = "member.json"


@dataclass
class EnsembleResult:
    """What `train_ensemble` built: the folder, one record per member (rung, seed, cost, scale, held-out metrics)
    and the ensemble's own held-out metrics (None without held-out pairs)."""

    output: str
    members: list[dict[str, Any]]
    metrics: dict[str, Any] | None
    elapsed_s: float
    reused: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with a schema tag."""
        return {"schema": RESULT_SCHEMA, **asdict(self)}

    def lines(self) -> list[str]:
        """A plain-text summary: one line per member, then the ensemble."""
        out = [f"{'member':<22} {'seed':>4} {'params':>8} {'trainable':>9} {'train s':>8}  held-out acc [95% CI]"]
        for m in self.members:
            acc = (m.get("metrics") or {}).get("accuracy")
            out.append(f"{m['label']:<22} {m['seed']:>4} {_millions(m['params_total']):>8} "
                       f"{_millions(m['params_trainable']):>9} {m['train_s']:>8.0f}  {_ci_text(acc)}")
        met = self.metrics or {}
        if met:
            out.append(f"{'ensemble (mean)':<22} {'':>4} {'':>8} {'':>9} {'':>8}  {_ci_text(met.get('accuracy'))}")
            line = f"mean correlation between members' held-out rewards: {met['member_correlation']:.3f}"
            if met.get("gold_agreement"):
                line += (f"; gold agreement {_ci_text(met['gold_agreement'])}; Spearman(member spread, |error vs "
                         f"gold|) {met['spread_error_spearman']:+.3f}")
            out.append(line)
        out.append(f"{len(self.members)} members ({len(self.reused)} reused) in {self.elapsed_s:.0f} s")
        return out


def _millions(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e5 else f"{n / 1e3:.1f}k"


def _ci_text(d: dict[str, float] | None) -> str:
    return "-" if not d else f"{d['estimate']:.3f} [{d['lo']:.3f}, {d['hi']:.3f}]"


def _fingerprint(settings: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    tmp.replace(path)


def _calibration_items(pairs: Sequence[PreferencePair], n: int, seed: int) -> tuple[list[Any], list[Any]]:
    """Up to n training responses (chosen and rejected of a seeded sample of pairs) with their prompts."""
    k = min(len(pairs), max(1, n // 2))
    idx = sorted(np.random.default_rng([seed, 11]).choice(len(pairs), size=k, replace=False).tolist())
    prompts = [pairs[i].prompt for i in idx] * 2
    return prompts, [pairs[i].chosen for i in idx] + [pairs[i].rejected for i in idx]


def pair_metrics(pairs: Sequence[PreferencePair], rc: np.ndarray, rr: np.ndarray,
                 seed: int = 0) -> dict[str, Any]:
    """Held-out accuracy and (with simulator gold) gold agreement, 95% CIs clustered by prompt."""
    from rewardlab.stats.bootstrap import bootstrap_mean_ci
    from rewardlab.stats.calibration import pairwise_correct
    from rewardlab.sweep.run import _cluster, _labels, gold_agree_items, gold_columns, has_gold

    def ci(values: np.ndarray, cluster: Any) -> dict[str, float]:
        est, lo, hi = bootstrap_mean_ci(values, 1000, seed=seed, cluster=cluster)
        return {"estimate": float(est), "lo": float(lo), "hi": float(hi)}

    cluster = _cluster([p.prompt for p in pairs])
    out: dict[str, Any] = {"accuracy": ci(pairwise_correct(rc - rr, _labels(pairs)), cluster),
                           "gold_agreement": None}
    if has_gold(pairs):
        agree, used = gold_agree_items(rc, rr, *gold_columns(pairs))
        if agree.size:
            out["gold_agreement"] = ci(agree, cluster[used] if cluster is not None else None)
    return out


def ensemble_metrics(pairs: Sequence[PreferencePair], member_rewards: list[tuple[np.ndarray, np.ndarray]],
                     scales: list[tuple[float, float]], seed: int = 0) -> dict[str, Any]:
    """The ensemble's held-out metrics from its members' raw rewards on the chosen and rejected responses.

    Returns:
        dict: accuracy and gold_agreement of the mean rule (as `pair_metrics`); member_correlation (the mean
        Pearson correlation over member pairs of their rewards on the held-out responses); with gold,
        spread_error_spearman: the Spearman correlation, over held-out responses, between the members' std and
        |z(ensemble mean) - z(gold)|, z standardising over those responses (positive: members disagree more where
        the ensemble is more wrong).
    """
    from scipy.stats import spearmanr

    from rewardlab.sweep.run import gold_columns, has_gold

    n = len(pairs)
    out_all = combine_members([np.concatenate([rc, rr]) for rc, rr in member_rewards], scales)
    met = pair_metrics(pairs, out_all.mean[:n], out_all.mean[n:], seed)
    corr = np.corrcoef(out_all.members.T)
    k = corr.shape[0]
    met["member_correlation"] = float(corr[np.triu_indices(k, 1)].mean())
    met["spread_error_spearman"] = None
    if has_gold(pairs):
        gold = np.concatenate(gold_columns(pairs))

        def z(x: np.ndarray) -> np.ndarray:
            return (x - x.mean()) / (x.std() or 1.0)

        err = np.abs(z(out_all.mean) - z(gold))
        met["spread_error_spearman"] = float(spearmanr(out_all.std, err).statistic)
    return met


def _train_member(spec: EnsembleSpec, i: int, data: Any, folder: Path, encode_cache: dict[Any, Any],
                  settings: dict[str, Any]) -> dict[str, Any]:
    """Train member i into folder/model-less layout (the checkpoint is the folder itself) and measure it."""
    from rewardlab.scoring.base import ModelScorer
    from rewardlab.sweep.run import _score, count_parameters
    from rewardlab.train.trainer import clean_checkpoints, train

    rung, seed = spec.plan()[i]
    cfg = spec.member_config(i, rung, seed, str(folder))
    logger.info("ensemble member %d/%d: training %s (seed %d)", i + 1, len(spec.members), rung.label, seed)
    t0 = time.perf_counter()
    res = train(cfg, data=data, encode_cache=encode_cache)
    train_s = time.perf_counter() - t0
    clean_checkpoints(str(folder))
    total, trainable = count_parameters(res.loaded.model)
    scorer = ModelScorer(res.loaded, name=rung.label, bf16=cfg.run.bf16)
    prompts, responses = _calibration_items(data.train, spec.calibration_n, seed)
    cal = np.asarray(scorer.score(prompts, responses, progress=False).mean, dtype=float)
    offset, scale = float(cal.mean()), float(cal.std())
    if not (np.isfinite(scale) and scale > 1e-12):
        logger.warning("ensemble member %s: its rewards on %d training responses are constant (std %g); scale "
                       "set to 1", rung.label, len(cal), scale)
        scale = 1.0
    rc, rr = _score(scorer, data.eval)
    rec = {"label": rung.label, "seed": seed, "train_s": train_s, "params_total": total,
           "params_trainable": trainable, "scale": {"offset": offset, "scale": scale, "n": int(len(cal))},
           "n_train": len(res.data.train) if res.data else len(data.train),
           "eval_rewards": {"rc": rc.tolist(), "rr": rr.tolist()}}
    logger.info("ensemble member %d/%d %s: trained in %.0f s (%s parameters, %s trainable)", i + 1,
                len(spec.members), rung.label, train_s, _millions(total), _millions(trainable))
    return {"schema": RESULT_SCHEMA, "fingerprint": _fingerprint(settings), "settings": settings, **rec}


def run(spec: EnsembleSpec) -> EnsembleResult:
    """Train (or reuse) every member, measure them, and write the ensemble folder.

    Args:
        spec: the validated settings; `spec.train` holds the train settings every member shares.

    Returns:
        EnsembleResult: the folder, the member records and the ensemble's held-out metrics; written: rewardlab.json
        (the manifest), ensemble.json (this result) and members/NN-RUNG/ (checkpoints with member.json).

    Raises:
        RewardlabError: no output folder; a member whose settings break a train rule; a finished member in the
            folder made with other settings (without `overwrite`); or what training raises.

    Example:
        >>> from rewardlab import EnsembleSpec, TrainConfig, load_scorer, train_ensemble
        >>> res = train_ensemble(EnsembleSpec(output="runs/diverse", members=["minilm:2", "minilm:6"],
        ...                                   train=TrainConfig.from_options(sim_n=1000)))  # doctest: +SKIP
        >>> load_scorer("runs/diverse").score(["2+2?"], ["4"]).members.shape  # doctest: +SKIP
        (1, 2)
    """
    from rewardlab.models.checkpoint import data_fingerprint
    from rewardlab.train.trainer import load_train_data

    if not spec.output:
        raise RewardlabError("--output is required: the folder the ensemble is saved to")
    t0 = time.perf_counter()
    out = Path(spec.output)
    plan = spec.plan()
    for i, (rung, seed) in enumerate(plan):  # every member's settings are valid before anything trains
        spec.member_config(i, rung, seed, "<member>")
    data = load_train_data(spec.train)
    if not data.train:
        raise RewardlabError("no training pairs")
    fp = data_fingerprint(data.train + data.eval)
    records: list[dict[str, Any]] = []
    reused: list[str] = []
    encode_cache: dict[Any, Any] = {}
    out.mkdir(parents=True, exist_ok=True)
    for i, (rung, seed) in enumerate(plan):
        folder = out / "members" / f"{i:02d}-{rung.slug}"
        cfg = spec.member_config(i, rung, seed, "<member>").to_dict()
        cfg["run"] = {k: v for k, v in cfg["run"].items()
                      if k not in ("output", "progress", "resume", "logging_steps", "report_to", "save_total_limit")}
        settings = {"member": rung.label, "train": cfg, "data": fp, "calibration_n": spec.calibration_n}
        done = folder / MEMBER_FILE
        if done.exists() and not spec.overwrite:
            prev = json.loads(done.read_text())
            if prev.get("fingerprint") == _fingerprint(settings) and (folder / MANIFEST).exists():
                logger.info("ensemble member %d/%d %s reused from %s", i + 1, len(plan), rung.label, folder)
                records.append(prev)
                reused.append(rung.label)
                continue
            if prev.get("fingerprint") != _fingerprint(settings):
                raise RewardlabError(f"{done} was made with other settings; pass --overwrite to retrain, or choose "
                                     "another --output")
        if folder.exists():
            shutil.rmtree(folder)
        rec = _train_member(spec, i, data, folder, encode_cache, settings)
        _write_json(done, rec)
        records.append(rec)
    scales = [(r["scale"]["offset"], r["scale"]["scale"]) for r in records]
    metrics = None
    members_out = []
    for r in records:
        m = {k: v for k, v in r.items() if k not in ("eval_rewards", "settings", "schema", "fingerprint")}
        if data.eval:
            ev = r["eval_rewards"]
            m["metrics"] = pair_metrics(data.eval, np.asarray(ev["rc"]), np.asarray(ev["rr"]), spec.train.run.seed)
        members_out.append(m)
    if data.eval and len(records) >= 2:
        metrics = ensemble_metrics(data.eval, [(np.asarray(r["eval_rewards"]["rc"]), np.asarray(r["eval_rewards"]
                                                                                             ["rr"]))
                                               for r in records], scales, spec.train.run.seed)
    manifest = {"format": ENSEMBLE_FORMAT, "schema": 1, "version": __version__, "data_fingerprint": fp,
                "source": data.source,
                "members": [{"path": str((out / "members" / f"{i:02d}-{rung.slug}").relative_to(out)),
                             "label": r["label"], "seed": r["seed"], "scale": r["scale"],
                             "train_s": r["train_s"], "params_total": r["params_total"],
                             "params_trainable": r["params_trainable"]}
                            for i, ((rung, _), r) in enumerate(zip(plan, records, strict=True))],
                "metrics": metrics}
    res = EnsembleResult(str(out), members_out, metrics, time.perf_counter() - t0, reused)
    res.files = [str(out / MANIFEST), str(out / "ensemble.json")]
    _write_json(out / MANIFEST, manifest)
    _write_json(out / "ensemble.json", {**res.to_dict(), "spec": spec.to_dict()})
    return res


#: the public name (`from rewardlab import train_ensemble`)
train_ensemble = run
