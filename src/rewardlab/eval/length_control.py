"""Length control for any scorer: regress length out of the reward, the way AlpacaEval's length-controlled win rate
regresses it out of the judge's preference.

The model, fitted on preference pairs (chosen c, rejected r) that the scorer has scored:

    reward = q + beta * f(length),     f(length) = (log(1 + characters) - mu) / s

so on a pair the length-free part of the reward difference is

    r_c - r_r = (q_c - q_r) + beta * (f(len_c) - f(len_r)),

and beta is the ordinary least-squares slope of the reward differences on the feature differences, through the
origin (a difference of two responses to one prompt has no intercept). The controlled reward is
q = reward - beta * f(length). By construction the fitted pairs' q-differences have zero sample correlation with
their feature differences; on other pairs (cross-fitting) they have about zero.

Choices, and why:

- characters, not tokens: every scorer (a `py:` callable, an HTTP server, any checkpoint) is controlled on the
  same scale, no tokenizer is needed, and it is the unit of `data stats` and `--balance length`;
- a log: reward models reward length with diminishing returns (one more paragraph matters more after one
  sentence than after ten); a difference of logs is a length ratio, comparable across short and long data sets;
  `feature="chars"` (plain characters, scaled) is there for a reward that is linear in length;
- standardized (`s`: the standard deviation of the fit pairs' log-length differences; `mu`: the mean log length
  of their responses): beta reads as "reward per standard deviation of log length difference", and q stays
  near the reward's own range;
- per-response, not AlpacaEval's tanh of a length difference: `rewardlab score` must correct each response on
  its own, so f must be a function of one response's length (a difference of f values is still what is fitted);
- the reward differences, not the labels: the fit asks how much of *the scorer's* preference follows length, and
  removes all of it, also the part that better answers would earn by being longer (as AlpacaEval does; when the
  data's labels are unbiased, the accuracy after control shows what that cost). It needs no labels, so any pairs
  file can serve;
- beta's 95% CI is closed form: the heteroscedasticity-robust (HC0, sandwich) standard error of the slope,
  clustered by prompt when prompts repeat.

Never fit and evaluate on the same pairs without saying so: `cross_fit` fits on one half of the prompts and
controls the other half, and the reverse.

Example:
    >>> import numpy as np
    >>> lengths_c, lengths_r = np.arange(10, 130, 10), np.arange(120, 0, -10)
    >>> lc = fit_length_control(lengths_c / 10, lengths_r / 10, lengths_c, lengths_r, feature="chars")
    >>> round(lc.beta * 10 / lc.s, 6), lc.n_pairs, bool(lc.apply(lengths_c / 10, lengths_c).std() < 1e-9)
    (1.0, 12, True)
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from rewardlab.config import ConfigError, Spec, option
from rewardlab.errors import RewardlabError

logger = logging.getLogger(__name__)

FEATURES = ("log_chars", "chars")
MIN_PAIRS = 10  # fewer pairs, or no length variation, cannot estimate a slope


@dataclass
class LengthControlSpec(Spec):
    """Length control of rewards (`rewardlab score --length-control`, `rewardlab eval --length-control`).

    Example:
        >>> LengthControlSpec(enabled=True).feature
        'log_chars'
        >>> LengthControlSpec(data="held.jsonl")
        Traceback (most recent call last):
        rewardlab.config.ConfigError: data applies with enabled; enabled is off
    """

    section_title = "length control"

    enabled: bool = option(False, flag="--length-control", help=(
        "Fit reward = q + beta * f(length) on held-out pairs (least squares on reward differences) and use q, "
        "the reward with length regressed out. Without --length-control-data: cross-fitted on the scored pairs "
        "(each half of the prompts controlled with beta fitted on the other half)."))
    data: str | None = option(None, flag="--length-control-data", help=(
        "Pairs file to fit beta on (read with the --data options); it should share no prompt with the scored "
        "data."))
    feature: Literal["log_chars", "chars"] = option("log_chars", flag="--length-control-feature", help=(
        "f(length): log_chars (standardized log(1 + characters), default) or chars (standardized characters)."))

    def check(self) -> None:
        if not self.enabled:
            for name, default in (("data", None), ("feature", "log_chars")):
                if getattr(self, name) != default:
                    raise ConfigError("{0} applies with {1}; {1} is off", name, "enabled")


@dataclass
class LengthControl:
    """A fitted length control: q = reward - beta * f(length), f(length) = (g(length) - mu) / s, with g = log(1 + x)
    (feature "log_chars") or g = x ("chars"), length in characters.

    `beta_se`, `beta_ci` (95%), `r2` (share of the reward differences' variance explained by length; uncentered,
    through the origin), `corr_before` (Pearson correlation of reward and feature differences on the fit pairs)
    and `n_pairs` describe the fit; `source` says which pairs it was fitted on.

    Example:
        >>> lc = LengthControl(beta=2.0, feature="chars", mu=0.0, s=10.0)
        >>> lc.apply([5.0, 7.0], [10, 20]).tolist()
        [3.0, 3.0]
    """

    beta: float
    feature: str = "log_chars"
    mu: float = 0.0
    s: float = 1.0
    beta_se: float = float("nan")
    beta_ci: tuple[float, float] = (float("nan"), float("nan"))
    r2: float = float("nan")
    corr_before: float = float("nan")
    n_pairs: int = 0
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def f(self, lengths: Sequence[float] | np.ndarray) -> np.ndarray:
        """The standardized length feature of each response (lengths in characters)."""
        return (_g(np.asarray(lengths, dtype=float), self.feature) - self.mu) / self.s

    def apply(self, rewards: Sequence[float] | np.ndarray, lengths: Sequence[float] | np.ndarray) -> np.ndarray:
        """q = reward - beta * f(length), per response.

        Args:
            rewards: the scorer's rewards.
            lengths: each response's length in characters (`len(text_of(response))`).

        Returns:
            The length-controlled rewards, one per response.

        Raises:
            RewardlabError: rewards and lengths differ in size.
        """
        r = np.asarray(rewards, dtype=float)
        ln = np.asarray(lengths, dtype=float)
        if r.shape != ln.shape:
            raise RewardlabError(f"length control: {r.size} rewards but {ln.size} lengths")
        return r - self.beta * self.f(ln)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (metrics.json, logs)."""
        fin = _finite
        return {"model": "reward = q + beta * f(length); beta: least squares on pair reward differences",
                "feature": self.feature, "f": f"({'log(1 + chars)' if self.feature == 'log_chars' else 'chars'} - "
                f"{self.mu:.6g}) / {self.s:.6g}", "beta": fin(self.beta), "beta_se": fin(self.beta_se),
                "beta_ci": [fin(self.beta_ci[0]), fin(self.beta_ci[1])], "r2": fin(self.r2),
                "corr_before": fin(self.corr_before), "n_pairs": self.n_pairs, "source": self.source,
                "notes": list(self.notes)}

    def line(self) -> str:
        """One readable line: beta with its CI, the fit's R^2 and its pairs."""
        return (f"length control: beta {self.beta:+.4g} [{self.beta_ci[0]:+.4g}, {self.beta_ci[1]:+.4g}] reward "
                f"per std of {self.feature} difference, R^2 {self.r2:.3f}, {self.n_pairs} pairs ({self.source})")


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _g(lengths: np.ndarray, feature: str) -> np.ndarray:
    if feature == "log_chars":
        return np.log1p(np.maximum(lengths, 0.0))
    if feature == "chars":
        return lengths.astype(float)
    raise RewardlabError(f"length control: feature must be one of {list(FEATURES)}, got {feature!r}")


def fit_length_control(reward_chosen: Sequence[float] | np.ndarray, reward_rejected: Sequence[float] | np.ndarray,
                       len_chosen: Sequence[float] | np.ndarray, len_rejected: Sequence[float] | np.ndarray,
                       feature: Literal["log_chars", "chars"] = "log_chars",
                       groups: Sequence[Any] | None = None, source: str = "") -> LengthControl:
    """Fit reward = q + beta * f(length) on scored pairs: beta is the least-squares slope of the reward differences
    on the feature differences, through the origin.

    Args:
        reward_chosen, reward_rejected: the scorer's rewards of each pair's two responses.
        len_chosen, len_rejected: their lengths in characters.
        feature: "log_chars" (standardized log(1 + characters)) or "chars" (standardized characters).
        groups: a prompt key per pair; when prompts repeat, beta's standard error is clustered by prompt.
        source: which pairs these are (kept in the result, shown in reports).

    Returns:
        LengthControl: beta, its robust standard error and 95% CI, R^2, and f's centre and scale.

    Raises:
        RewardlabError: arrays of different sizes, an unknown feature, fewer than 10 pairs, or pairs whose
            lengths never differ (no slope to fit).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> lc_, lr_ = rng.integers(20, 800, 2000), rng.integers(20, 800, 2000)
        >>> qc, qr = rng.normal(size=2000), rng.normal(size=2000)
        >>> lc = fit_length_control(qc + 0.5 * np.log1p(lc_), qr + 0.5 * np.log1p(lr_), lc_, lr_)
        >>> round(lc.beta / lc.s, 1), bool(lc.beta_ci[0] < lc.beta < lc.beta_ci[1])  # 0.5 per unit of log length
        (0.5, True)
    """
    rc, rr = np.asarray(reward_chosen, dtype=float), np.asarray(reward_rejected, dtype=float)
    lc, lr = np.asarray(len_chosen, dtype=float), np.asarray(len_rejected, dtype=float)
    if not rc.shape == rr.shape == lc.shape == lr.shape or rc.ndim != 1:
        raise RewardlabError(f"length control: rewards ({rc.size}, {rr.size}) and lengths ({lc.size}, {lr.size}) "
                             "must be one value per pair")
    if rc.size < MIN_PAIRS:
        raise RewardlabError(f"length control needs at least {MIN_PAIRS} pairs to fit beta, got {rc.size}")
    gc, gr = _g(lc, feature), _g(lr, feature)
    mu = float(np.mean(np.concatenate([gc, gr])))
    s = float(np.std(gc - gr))
    if not s > 0:
        raise RewardlabError("length control: the responses of every pair have the same length ratio; no slope "
                             "of reward on length can be fitted")
    x = (gc - gr) / s
    y = rc - rr
    sxx = float(x @ x)
    beta = float(x @ y) / sxx
    e = y - beta * x
    if groups is not None and len(set(map(_key, groups))) < len(x):
        keys = np.array([_key(g) for g in groups])
        _, inv = np.unique(keys, return_inverse=True)
        scores = np.bincount(inv, weights=x * e)
        meat = float(scores @ scores)
        se_note = f"SE clustered by prompt ({int(inv.max()) + 1} prompts)"
    else:
        meat = float(np.sum((x * e) ** 2))
        se_note = "SE heteroscedasticity-robust (HC0)"
    se = math.sqrt(meat) / sxx
    yy = float(y @ y)
    r2 = 1.0 - float(e @ e) / yy if yy > 0 else float("nan")
    corr = float(np.corrcoef(x, y)[0, 1]) if np.std(y) > 0 else float("nan")
    return LengthControl(beta, feature, mu, s, se, (beta - 1.96 * se, beta + 1.96 * se), r2, corr, int(x.size),
                         source, [se_note])


def _key(prompt: Any) -> str:
    return prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True, ensure_ascii=False)


def prompt_fold(prompt: Any) -> int:
    """0 or 1: a deterministic half of the prompts (a hash of the prompt), the cross-fitting folds."""
    return hashlib.sha1(_key(prompt).encode()).digest()[1] % 2


def cross_fit(reward_chosen: Sequence[float] | np.ndarray, reward_rejected: Sequence[float] | np.ndarray,
              len_chosen: Sequence[float] | np.ndarray, len_rejected: Sequence[float] | np.ndarray,
              prompts: Sequence[Any], feature: Literal["log_chars", "chars"] = "log_chars",
              ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Length-control pairs without fitting and applying on the same pairs: the prompts are split in two halves
    (`prompt_fold`); each half is controlled with beta fitted on the other half.

    Args:
        reward_chosen, reward_rejected, len_chosen, len_rejected: as in `fit_length_control`.
        prompts: each pair's prompt (the folds keep all pairs of a prompt together).
        feature: as in `fit_length_control`.

    Returns:
        (q_chosen, q_rejected, info): the controlled rewards, and {"method": "cross-fit", "folds": [fit of fold 0
        (applied to fold 1), fit of fold 1 (applied to fold 0)], "pooled": the fit on all pairs (for reading
        only; not applied)}.

    Raises:
        RewardlabError: a half with fewer than 10 pairs or no length variation (named).

    Example:
        >>> rng = np.random.default_rng(1)
        >>> lc_, lr_ = rng.integers(20, 800, 100), rng.integers(20, 800, 100)
        >>> qc, qr, info = cross_fit(lc_ * 1.0, lr_ * 1.0, lc_, lr_, [f"p{i}" for i in range(100)], feature="chars")
        >>> float(np.abs(qc - qr).max()) < 1e-9, info["method"]
        (True, 'cross-fit')
    """
    rc, rr = np.asarray(reward_chosen, dtype=float), np.asarray(reward_rejected, dtype=float)
    lc, lr = np.asarray(len_chosen, dtype=float), np.asarray(len_rejected, dtype=float)
    fold = np.array([prompt_fold(p) for p in prompts])
    if fold.size != rc.size:
        raise RewardlabError(f"length control: {fold.size} prompts for {rc.size} pairs")
    qc, qr = rc.copy(), rr.copy()
    fits = []
    for k in (0, 1):
        fit_on, apply_to = fold == k, fold != k
        n_fit = int(fit_on.sum())
        if n_fit < MIN_PAIRS:
            raise RewardlabError(f"length control (cross-fitting): prompt half {k} has {n_fit} pairs, fewer than "
                                 f"{MIN_PAIRS}; give more pairs or --length-control-data")
        lcf = fit_length_control(rc[fit_on], rr[fit_on], lc[fit_on], lr[fit_on], feature,
                                 [prompts[i] for i in np.flatnonzero(fit_on)],
                                 source=f"prompt half {k} ({n_fit} pairs), applied to the other half")
        qc[apply_to] = lcf.apply(rc[apply_to], lc[apply_to])
        qr[apply_to] = lcf.apply(rr[apply_to], lr[apply_to])
        fits.append(lcf)
    pooled = fit_length_control(rc, rr, lc, lr, feature, list(prompts), source="all pairs (reported, not applied)")
    info = {"method": "cross-fit", "folds": [f.to_dict() for f in fits], "pooled": pooled.to_dict()}
    return qc, qr, info


def fit_on_pairs(scorer: Any, pairs: Sequence[Any], feature: Literal["log_chars", "chars"] = "log_chars",
                 source: str = "", progress: bool = True) -> LengthControl:
    """Score preference pairs with `scorer` and fit the length control on them (`fit_length_control`).

    Args:
        scorer: any Scorer.
        pairs: PreferencePair records (other records are an error): the fit pairs, held out from what is
            controlled.
        feature: f(length), "log_chars" or "chars".
        source: which pairs these are (kept in the fit).
        progress: show a progress bar while scoring.

    Returns:
        LengthControl: the fit.

    Raises:
        RewardlabError: records that are not pairs, or what `fit_length_control` raises.

    Example:
        >>> from rewardlab import CallableScorer
        >>> from rewardlab.data.schema import PreferencePair as P
        >>> pairs = [P(f"q{i}", "x" * (10 + 7 * i), "y" * (90 - 3 * i)) for i in range(12)]
        >>> lc = fit_on_pairs(CallableScorer(lambda p, r: len(r)), pairs, "chars", progress=False)
        >>> bool(abs(lc.apply([10.0, 500.0], [10, 500])[0] - lc.apply([500.0], [500])[0]) < 1e-9)
        True
    """
    from rewardlab.data.schema import PreferencePair, text_of

    bad = next((i for i, p in enumerate(pairs) if not isinstance(p, PreferencePair)), None)
    if bad is not None:
        raise RewardlabError(f"length control fits on preference pairs; record {bad} of {source or 'the data'} is "
                             f"a {type(pairs[bad]).__name__}")
    n = len(pairs)
    out = scorer.score([p.prompt for p in pairs] * 2, [p.chosen for p in pairs] + [p.rejected for p in pairs],
                       progress=progress)
    lens = np.array([len(text_of(p.chosen)) for p in pairs] + [len(text_of(p.rejected)) for p in pairs], float)
    return fit_length_control(out.mean[:n], out.mean[n:], lens[:n], lens[n:], feature, [p.prompt for p in pairs],
                              source)


def shared_prompts(fit_pairs: Sequence[Any], records: Sequence[Any]) -> int:
    """How many distinct prompts of `records` also occur in `fit_pairs` (beta then was partly fitted on the data it
    controls; the CLI says so).

    Args:
        fit_pairs: the pairs beta was fitted on.
        records: the controlled records (anything with a `prompt`).

    Returns:
        The number of shared distinct prompts.

    Example:
        >>> from rewardlab.data.schema import PreferencePair as P
        >>> shared_prompts([P("a", "x", "y"), P("b", "x", "y")], [P("b", "x", "z"), P("c", "x", "y")])
        1
    """
    fit = {_key(p.prompt) for p in fit_pairs}
    return len({_key(r.prompt) for r in records} & fit)


def control_score_rows(rows: list[dict[str, Any]], records: Sequence[Any], control: LengthControl | None,
                       feature: Literal["log_chars", "chars"] = "log_chars") -> dict[str, Any]:
    """Length-control the rows of `rewardlab score` in place: "reward" becomes q, the raw reward moves to
    "reward_raw". With `control` None the records must be pairs and are cross-fitted (`cross_fit`).

    Args:
        rows: `score_records` rows, in the order of `record_items(records)`.
        records: the scored records.
        control: a LengthControl fitted on other pairs, or None for cross-fitting on these pairs.
        feature: f(length) of the cross-fit.

    Returns:
        The fit (a dict, as `LengthControl.to_dict` or `cross_fit`'s info).

    Raises:
        RewardlabError: control None and records that are not all pairs (name --length-control-data).

    Example:
        >>> from rewardlab.data.schema import PreferencePair as P
        >>> rows = [{"role": "chosen", "response": "aaaa", "reward": 4.0}, {"role": "rejected", "response": "bb",
        ...         "reward": 2.0}]
        >>> info = control_score_rows(rows, [P("q", "aaaa", "bb")], LengthControl(1.0, "chars", 0.0, 1.0))
        >>> rows[0]["reward"], rows[0]["reward_raw"]
        (0.0, 4.0)
    """
    from rewardlab.data.schema import PreferencePair, text_of

    raw = np.array([r["reward"] for r in rows], dtype=float)
    lens = np.array([len(text_of(r["response"])) for r in rows], dtype=float)
    if control is not None:
        q = control.apply(raw, lens)
        info = {"method": "fitted on other pairs", "fit": control.to_dict()}
    else:
        if not records or not all(isinstance(r, PreferencePair) for r in records):
            raise RewardlabError("--length-control needs pairs to fit beta on: give --length-control-data FILE "
                                 "(preference pairs) when the scored file is not a pairs file")
        n = len(records)
        rc, rr, lc, lr = raw[0::2], raw[1::2], lens[0::2], lens[1::2]
        if rc.size != n:
            raise RewardlabError(f"length control: {len(rows)} rows for {n} pairs")
        qc, qr, info = cross_fit(rc, rr, lc, lr, [p.prompt for p in records], feature)
        q = np.empty_like(raw)
        q[0::2], q[1::2] = qc, qr
    for row, qi, ri in zip(rows, q, raw, strict=True):
        row["reward"], row["reward_raw"] = float(qi), float(ri)
    return info
