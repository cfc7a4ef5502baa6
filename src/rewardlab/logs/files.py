"""Reading the three log files into arrays, with every bad record reported as `file:line: field: reason`.

Formats (JSONL, or any row format `rewardlab.data.io` reads):
- OBS: {model, reward, features: [numbers]}
- EXP: {model, reward, features, propensity}: propensity in (0, 1], the known probability of the model the row got
- SIM: {context, model, features}: every candidate model replayed on every cached context, once
Extra fields are kept out of the way; `outcome_field` / `proxy_field` name optional numeric fields read at the EXP
and SIM rows. The candidate models are those of EXP and SIM (they must be the same); OBS rows of other models are
ignored (counted in the notes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rewardlab.data.io import iter_rows
from rewardlab.errors import DataValidationError, Issue, RewardlabError
from rewardlab.logs.estimators import LogArrays

__all__ = ["LogFiles", "read_logs"]


@dataclass
class LogFiles:
    """The arrays, the model names (code order) and notes on what was ignored."""

    arrays: LogArrays
    models: list[str]
    notes: list[str] = field(default_factory=list)


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


def _read(path: str, role: str, required: tuple[str, ...], extra: tuple[str, ...],
          issues: list[Issue]) -> list[tuple[int, dict[str, Any]]]:
    """Valid rows (line, row) of one file; the bad ones go to `issues`."""
    rows = []
    n_feat: int | None = None
    for line, row in iter_rows(path):
        if isinstance(row, Issue):
            issues.append(row)
            continue
        bad = False
        for name in required + extra:
            if name not in row or row[name] is None:
                if name in required:
                    issues.append(Issue(path, line, name, f"missing (a {role} row needs {', '.join(required)})"))
                    bad = True
                else:
                    issues.append(Issue(path, line, name, "missing (named by --outcome-field / --proxy-field)"))
                    bad = True
                continue
            v = row[name]
            if name in ("model", "context"):
                if not isinstance(v, str | int) or isinstance(v, bool) or str(v) == "":
                    issues.append(Issue(path, line, name, f"must be a non-empty string, got {v!r}"))
                    bad = True
            elif name == "features":
                if not isinstance(v, list) or not v or any(_number(x) is None for x in v):
                    issues.append(Issue(path, line, name, "must be a non-empty list of finite numbers"))
                    bad = True
                elif n_feat is not None and len(v) != n_feat:
                    issues.append(Issue(path, line, name, f"has {len(v)} values, earlier rows have {n_feat}"))
                    bad = True
                else:
                    n_feat = len(v)
            elif name == "propensity":
                p = _number(v)
                if p is None or not 0.0 < p <= 1.0:
                    issues.append(Issue(path, line, name, f"must be a probability in (0, 1], got {v!r}"))
                    bad = True
            elif _number(v) is None:
                issues.append(Issue(path, line, name, f"must be a finite number, got {v!r}"))
                bad = True
        if not bad:
            rows.append((line, row))
    if not rows and not any(i.source == path for i in issues):
        issues.append(Issue(path, None, "<file>", f"no {role} rows"))
    return rows


def read_logs(obs: str, exp: str, sim: str, outcome_field: str | None = None,
              proxy_field: str | None = None) -> LogFiles:
    """Read and validate OBS, EXP and SIM into arrays.

    Args:
        obs, exp, sim: file paths (see the module docstring for the fields).
        outcome_field: numeric field of EXP and SIM rows with a given outcome model's prediction.
        proxy_field: numeric field of EXP and SIM rows with an OBS-trained reward's score.
    Returns:
        LogFiles.
    Raises:
        DataValidationError: every bad record, as file:line: field: reason.
        RewardlabError: files that disagree (feature counts, model sets, incomplete replays).

    Example:
        >>> read_logs("no.jsonl", "e.jsonl", "s.jsonl")
        Traceback (most recent call last):
        rewardlab.errors.RewardlabError: no.jsonl: no such file or folder
    """
    issues: list[Issue] = []
    given = tuple(f for f in (outcome_field, proxy_field) if f)
    o = _read(obs, "OBS", ("model", "reward", "features"), (), issues)
    e = _read(exp, "EXP", ("model", "reward", "features", "propensity"), given, issues)
    s = _read(sim, "SIM", ("context", "model", "features"), given, issues)
    if issues:
        raise DataValidationError(issues)
    dims = {name: len(rows[0][1]["features"]) for name, rows in (("obs", o), ("exp", e), ("sim", s))}
    if len(set(dims.values())) > 1:
        raise RewardlabError(f"the files have different feature counts: OBS {dims['obs']} ({obs}), EXP "
                             f"{dims['exp']} ({exp}), SIM {dims['sim']} ({sim}); features must mean the same in all")
    exp_models = {str(r["model"]) for _, r in e}
    sim_models = {str(r["model"]) for _, r in s}
    if exp_models != sim_models:
        raise RewardlabError(f"EXP ({exp}) and SIM ({sim}) must hold the same models: only in EXP "
                             f"{sorted(exp_models - sim_models)}, only in SIM {sorted(sim_models - exp_models)}")
    models = sorted(exp_models)
    if len(models) < 2:
        raise RewardlabError(f"{exp}: one model ({models[0]}); an evaluation compares at least 2")
    code = {m: i for i, m in enumerate(models)}
    k = len(models)
    contexts: dict[str, dict[int, tuple[int, dict[str, Any]]]] = {}
    for line, r in s:
        slot = contexts.setdefault(str(r["context"]), {})
        a = code[str(r["model"])]
        if a in slot:
            raise RewardlabError(f"{sim}:{line}: context {r['context']!r} replays {r['model']!r} twice (first on "
                                 f"line {slot[a][0]})")
        slot[a] = (line, r)
    for c, slot in contexts.items():
        if len(slot) < k:
            missing = [m for m in models if code[m] not in slot]
            raise RewardlabError(f"{sim}: context {c!r} lacks replays of {missing}: every model must answer every "
                                 "cached context")
    ctx = list(contexts.values())
    sim_x = np.asarray([[slot[a][1]["features"] for a in range(k)] for slot in ctx], dtype=float)

    def sim_field(name: str | None) -> np.ndarray | None:
        return None if not name else np.asarray([[slot[a][1][name] for a in range(k)] for slot in ctx], float)

    def exp_field(name: str | None) -> np.ndarray | None:
        return None if not name else np.asarray([r[name] for _, r in e], float)

    notes = []
    obs_arm = np.asarray([code.get(str(r["model"]), -1) for _, r in o])
    other = int((obs_arm < 0).sum())
    if other:
        notes.append(f"{other} OBS rows of models outside EXP/SIM were ignored")
    absent = [m for m in models if not (obs_arm == code[m]).any()]
    if absent:
        notes.append(f"OBS has no rows of {absent}: naive_obs is undefined for them")
    arrays = LogArrays(
        n_arms=k, obs_arm=obs_arm, obs_reward=np.asarray([r["reward"] for _, r in o], float),
        obs_x=np.asarray([r["features"] for _, r in o], float),
        exp_arm=np.asarray([code[str(r["model"])] for _, r in e]),
        exp_reward=np.asarray([r["reward"] for _, r in e], float),
        exp_x=np.asarray([r["features"] for _, r in e], float),
        exp_prob=np.asarray([r["propensity"] for _, r in e], float), sim_x=sim_x,
        outcome_exp=exp_field(outcome_field), outcome_sim=sim_field(outcome_field),
        proxy_exp=exp_field(proxy_field), proxy_sim=sim_field(proxy_field))
    for m in models:
        if (arrays.exp_arm == code[m]).sum() < 2:
            raise RewardlabError(f"{exp}: model {m!r} has fewer than 2 rows; its difference in means has no variance")
    return LogFiles(arrays, models, notes)
