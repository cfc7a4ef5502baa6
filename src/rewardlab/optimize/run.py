"""Best-of-N with any Scorer, and overoptimisation curves of one or more proxies against a gold reward.

`rewardlab bon` and `rewardlab goodhart` are thin wrappers over `best_of_n` and `run_goodhart`; both read K-sample
pools (`{prompt, responses, scores[, logprobs]}`, as `rewardlab data simulate --kind pools` and
`rewardlab generate` write them), score every candidate once and apply the one pessimism function
(`rewardlab.rules`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rewardlab.data.schema import KSampleSet, Record
from rewardlab.errors import RewardlabError
from rewardlab.results import write_result
from rewardlab.results.curves import GoodhartCurves
from rewardlab.rules import parse_rule, pessimistic_scores, select_best

logger = logging.getLogger(__name__)


@dataclass
class Pools:
    """P prompts with m candidates each (equal sizes), and where each pool came from (for error messages)."""

    prompts: list[Any]
    candidates: list[list[str]]
    ids: list[str]
    records: list[KSampleSet]

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.prompts), len(self.candidates[0]) if self.candidates else 0


def as_pools(records: Sequence[Record], n: int | None = None, source: str = "data") -> Pools:
    """K-sample records as equal-sized pools; `n` keeps the first n candidates of each.

    Args:
        records: K-sample sets (as `load_data` returns them for a pools file).
        n: keep the first n candidates of each pool (default: all; the pools must then have equal sizes).
        source: the file name, for error messages.
    Returns:
        Pools: prompts, candidates, record ids and the records.
    Raises:
        RewardlabError: not K-sample records, unequal pool sizes, n < 1 or n larger than a pool, naming the
            record.

    Example:
        >>> from rewardlab.data.schema import KSampleSet
        >>> as_pools([KSampleSet(prompt="p", responses=["a", "b", "c"], scores=[0, 1, 2])], n=2).candidates
        [['a', 'b']]
    """
    if not records:
        raise RewardlabError(f"{source}: no records")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise RewardlabError(f"{source}: -n (the candidates kept per pool) must be an integer >= 1, got {n!r}")
    sets = []
    for i, r in enumerate(records):
        if not isinstance(r, KSampleSet):
            raise RewardlabError(f"{source}: record {r.id or i} holds {type(r).kind} data; best-of-N and goodhart "
                                 "need K-sample pools {prompt, responses, scores}")
        sets.append(r)
    ids = [s.id or str(i) for i, s in enumerate(sets)]
    m = _pool_size([len(s.responses) for s in sets], ids, n, source)
    return Pools([s.prompt for s in sets], [list(s.responses[:m]) for s in sets], ids, sets)


def _pool_size(sizes: list[int], ids: list[str], n: int | None, source: str) -> int:
    """The common pool size: n (every pool must have at least n candidates) or the size all pools share."""
    for rid, k in zip(ids, sizes, strict=True):
        if k == 0:
            raise RewardlabError(f"{source}: record {rid} has no candidates")
        if n is not None and k < n:
            raise RewardlabError(f"{source}: record {rid} has {k} candidates, fewer than n = {n}")
        if n is None and k != sizes[0]:
            raise RewardlabError(f"{source}: record {rid} has {k} candidates, record {ids[0]} has {sizes[0]}: pools "
                                 "must have equal sizes (or pass -n to use the first n)")
    return sizes[0] if n is None else n


@dataclass
class PoolScores:
    """Proxy rewards of every candidate: mean [P, m], std [P, m] or None, members [P, m, K] or None."""

    mean: np.ndarray
    std: np.ndarray | None
    members: np.ndarray | None

    def select(self, rule: str) -> np.ndarray:
        """[P, m] scores under a selection rule (see `parse_rule`)."""
        return pessimistic_scores(rule, self.mean, std=self.std, members=self.members)


def score_pools(scorer: Any, pools: Pools, progress: bool = True) -> PoolScores:
    """Score every candidate once (one flat call: the scorer batches and shares prompts) and reshape to pools.

    Raises:
        RewardlabError: non-finite rewards (NaN or +-inf in the mean, std or members), naming the scorer and the
            first record and candidate.
    """
    p, m = pools.shape
    prompts = [pr for pr, cands in zip(pools.prompts, pools.candidates, strict=True) for _ in cands]
    responses = [c for cands in pools.candidates for c in cands]
    out = scorer.score(prompts, responses, progress=progress)
    mean = np.asarray(out.mean, dtype=float).reshape(p, m)
    std = None if out.std is None else np.asarray(out.std, dtype=float).reshape(p, m)
    members = None if out.members is None else np.asarray(out.members, dtype=float).reshape(p, m, -1)
    for what, a in (("rewards", mean), ("std values", std), ("member rewards", members)):
        if a is None:
            continue
        bad = np.argwhere(~np.isfinite(a))
        if len(bad):
            i, j = bad[0][:2]
            raise RewardlabError(f"{getattr(scorer, 'name', 'scorer')}: {len(bad)} non-finite {what} (first: "
                                 f"{a[tuple(bad[0])]} at record {pools.ids[i]}, candidate {j})")
    return PoolScores(mean, std, members)


def best_of_n(scorer: Any, prompts: Sequence[Any], candidates: Sequence[Sequence[str]], select: str = "mean",
              progress: bool = True) -> list[dict[str, Any]]:
    """Pick the best candidate of each prompt under a selection rule (pessimism included).

    Args:
        scorer: any Scorer (checkpoint, HF reward model, HTTP server, callable, score file).
        prompts: P prompts.
        candidates: P lists of m candidates each.
        select: mean, lcb:k, quantile:q, min or uwo:lambda (see `rewardlab.optimize.parse_rule`).
        progress: a progress bar while scoring.
    Returns:
        One dict per prompt: {index, response, score, reward, n_ties} (score under the rule, reward = the mean);
        ties at the top are broken by the lowest index, and counted.
    Raises:
        RewardlabError: unequal pools, a bad rule, a rule the scorer's output cannot serve (e.g. min without
            ensemble members), non-finite rewards.

    Example:
        >>> from rewardlab import CallableScorer
        >>> from rewardlab.optimize import best_of_n
        >>> picks = best_of_n(CallableScorer(lambda p, r: len(r)), ["q"], [["a", "abc", "ab"]])
        >>> picks[0]["index"], picks[0]["response"]
        (1, 'abc')
    """
    ids = [str(i) for i in range(len(prompts))]
    if len(candidates) != len(prompts):
        raise RewardlabError(f"{len(prompts)} prompts but {len(candidates)} candidate lists")
    _pool_size([len(c) for c in candidates], ids, None, "candidates")
    pools = Pools(list(prompts), [list(c) for c in candidates], ids, [])
    try:
        rule = parse_rule(select)
    except ValueError as e:
        raise RewardlabError(f"--select: {e}") from None
    scores = score_pools(scorer, pools, progress)
    try:
        chosen = scores.select(rule.name)
    except ValueError as e:
        raise RewardlabError(f"{getattr(scorer, 'name', 'scorer')} cannot serve --select {select}: {e} (a "
                             "scalar reward model has neither; use a Gaussian or ensemble head, or --select "
                             "mean)") from None
    index, ties = select_best(chosen)
    out = []
    for i, (k, t) in enumerate(zip(index.tolist(), ties.tolist(), strict=True)):
        out.append({"index": k, "response": pools.candidates[i][k], "score": float(chosen[i, k]),
                    "reward": float(scores.mean[i, k]), "n_ties": int(t)})
    return out


def is_gold_column(pools: Pools, name: str) -> bool:
    """Whether `name` is a column of the pools' records (`scores`, `correct` or an extra list column) rather than
    a reward model to score with."""
    return name in ("scores", "correct") or (bool(pools.records) and name in pools.records[0].extra)


def gold_values(pools: Pools, gold: str | Any, progress: bool = True) -> tuple[np.ndarray, str]:
    """[P, m] gold rewards: a column of the records (`scores`, `correct` or a list column in `extra`) or a Scorer.

    Raises:
        RewardlabError: the column is missing from a record or has the wrong length, naming the record.
    """
    m = pools.shape[1]
    if isinstance(gold, str):
        rows = []
        for i, r in enumerate(pools.records):
            col = r.scores if gold == "scores" else r.correct if gold == "correct" else r.extra.get(gold)
            if col is None or len(col) < m:
                raise RewardlabError(f"record {pools.ids[i]}: gold column {gold!r} is missing or shorter than its "
                                     f"{m} candidates")
            try:
                rows.append([float(x) for x in col[:m]])
            except (TypeError, ValueError):
                raise RewardlabError(f"record {pools.ids[i]}: gold column {gold!r} holds non-numbers") from None
        g = np.asarray(rows)
        bad = np.argwhere(~np.isfinite(g))
        if len(bad):
            raise RewardlabError(f"record {pools.ids[bad[0][0]]}: gold column {gold!r} has a non-finite value")
        return g, f"column {gold!r}"
    return score_pools(gold, pools, progress).mean, getattr(gold, "name", "gold scorer")


def pool_log_pi0(pools: Pools) -> np.ndarray | None:
    """[P, m] sampler log-probabilities from a `logprobs` column when every record has one, else None (uniform)."""
    m = pools.shape[1]
    rows = [r.extra.get("logprobs") for r in pools.records]
    if any(x is None or len(x) < m for x in rows):
        return None
    return np.asarray([[float(v) for v in x[:m]] for x in rows])


def parse_n_grid(text: str | Sequence[int], pool_size: int | None = None) -> list[int]:
    """A best-of-n grid from `--n-grid` text ("1,2,3,5,8") or a list: positive integers, strictly increasing,
    each at most the pool size when it is given.

    Args:
        text: comma-separated integers, or a sequence of them.
        pool_size: the candidates per pool (m), or None to skip that bound.
    Returns:
        list[int]: the grid.
    Raises:
        RewardlabError: an empty grid, a non-integer, a value < 1 or above the pool size, or values that are not
            strictly increasing, naming --n-grid.

    Example:
        >>> parse_n_grid("1, 2, 3, 5, 8", pool_size=8)
        [1, 2, 3, 5, 8]
    """
    items = [x.strip() for x in text.split(",")] if isinstance(text, str) else list(text)
    if not items or items == [""]:
        raise RewardlabError("--n-grid: empty; give comma-separated sample sizes such as 1,2,4,8")
    grid = []
    for x in items:
        try:
            v = int(x) if isinstance(x, str) else int(x) if not isinstance(x, bool) and x == int(x) else None
        except (TypeError, ValueError, OverflowError):
            v = None
        if v is None:
            raise RewardlabError(f"--n-grid: {x!r} is not a whole number")
        grid.append(v)
    if min(grid) < 1:
        raise RewardlabError(f"--n-grid: every n must be >= 1, got {grid}")
    if pool_size is not None and max(grid) > pool_size:
        raise RewardlabError(f"--n-grid: n = {max(grid)} is larger than the pool ({pool_size} candidates per "
                             "prompt)")
    if any(b <= a for a, b in zip(grid, grid[1:], strict=False)):
        raise RewardlabError(f"--n-grid: the sample sizes must be strictly increasing (sorted, no repeats), "
                             f"got {grid}")
    return grid


def run_goodhart(pools: Pools, proxies: dict[str, Any], gold: str | Any, out_dir: str | Path,
                 rules: Sequence[str] = ("mean",), pi0: str = "uniform", n_resamples: int = 200, seed: int = 0,
                 progress: bool = True, n_grid: str | Sequence[int] | None = None) -> dict[str, Any]:
    """Overoptimisation curves of each proxy (every rule) against the gold reward; writes goodhart.json + plots.

    Args:
        pools: equal-sized candidate pools (`as_pools`).
        proxies: {name: Scorer}; each is scored once.
        gold: a column name of the records (e.g. 'scores') or a Scorer (a larger gold reward model).
        out_dir: folder for goodhart.json and the PNG plots.
        rules: selection rules; a rule the proxy cannot serve (min without members) is skipped with a note.
        pi0: 'uniform' or 'logprobs' (the base policy of the tilted policies: the records' sampler log-probs).
        n_resamples: bootstrap resamples over prompts for the 95% CIs (0: no CIs, every lo/hi is None).
        seed: bootstrap seed.
        progress: progress bars while scoring.
        n_grid: the best-of-n sample sizes (see `parse_n_grid`); default 1, 2, 4, ... up to the pool size, and
            the pool size itself.
    Returns:
        The JSON-ready result: {gold, n_prompts, n_candidates, pi0, n_grid, proxies: {name: goodhart_curves(...)},
        sweet_spots, plots}.
    Raises:
        RewardlabError: bad pools, gold, rules, n grid or n_resamples, or a proxy whose rewards are not finite
            (naming the proxy).

    Example:
        >>> run_goodhart(pools, {"rm": scorer}, "scores", "runs/gh", rules=["mean", "lcb:1"])  # doctest: +SKIP
    """
    from rewardlab.optimize.curves import goodhart_curves, spread_error_spearman
    from rewardlab.optimize.plots import plot_goodhart

    for r in rules:
        try:
            parse_rule(r)
        except ValueError as e:
            raise RewardlabError(f"--select: {e}") from None

    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 0:
        raise RewardlabError(f"--n-resamples must be an integer >= 0 (0: no CIs), got {n_resamples!r}")
    ns = None if n_grid is None else parse_n_grid(n_grid, pools.shape[1])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    g, gold_name = gold_values(pools, gold, progress)
    log_pi0 = None
    if pi0 == "logprobs":
        log_pi0 = pool_log_pi0(pools)
        if log_pi0 is None:
            raise RewardlabError("--pi0 logprobs: every record needs a `logprobs` list (as `rewardlab generate` "
                                 "writes)")
    elif pi0 != "uniform":
        raise RewardlabError(f"pi0 must be 'uniform' or 'logprobs', got {pi0!r}")
    result: dict[str, Any] = {"gold": gold_name, "n_prompts": pools.shape[0], "n_candidates": pools.shape[1],
                              "pi0": pi0, "n_grid": "powers of two" if ns is None else ns, "proxies": {},
                              "sweet_spots": {}, "plots": []}
    for name, scorer in proxies.items():
        logger.info(f"goodhart: scoring {pools.shape[0]} x {pools.shape[1]} candidates with {name}")
        s = score_pools(scorer, pools, progress)
        usable = []
        for r in rules:
            try:
                s.select(r)
                usable.append(r)
            except ValueError as e:
                logger.warning(f"{name}: rule {r} skipped: {e}")
        if not usable:
            raise RewardlabError(f"{name}: none of the rules {list(rules)} can be computed from its output")
        try:
            res = goodhart_curves(s.mean, g, usable, std=s.std, members=s.members, ns=ns, log_pi0=log_pi0,
                                  n_resamples=n_resamples, seed=seed)
        except ValueError as e:
            raise RewardlabError(f"{name}: {e}") from None
        if s.std is not None and pools.shape[1] >= 3:  # beside every pessimism result: does spread track error?
            res["spread_error"] = {k: v for k, v in spread_error_spearman(s.mean, s.std, g).items()
                                   if k != "per_prompt"}
        result["proxies"][name] = res
        result["sweet_spots"][name] = sweet_spots(res)
        prefix = "goodhart" if len(proxies) == 1 else f"goodhart_{_slug(name)}"
        result["plots"] += [Path(p).name for p in plot_goodhart(res, out, prefix=prefix)]
    write_result(out / "goodhart.json", GoodhartCurves.from_dict(result, "goodhart.json"))
    return result


def sweet_spots(res: dict[str, Any]) -> dict[str, Any]:
    """Per rule: the best-of-n with the highest measured gold (n*, its gold and CI) and the gold at the largest n
    (the fall from the peak), plus the Gao fit's peak."""
    out = {}
    for rule, c in res["curves"].items():
        bon = c["bon"]
        est = np.asarray(bon["gold"]["estimate"])
        k = int(np.argmax(est))
        fit = bon.get("fit") or {}
        out[rule] = {
            "n_star": bon["n"][k], "kl_star": bon["kl"][k],
            "gold_at_n_star": {q: bon["gold"][q][k] for q in ("estimate", "lo", "hi")},
            "n_max": bon["n"][-1],
            "gold_at_n_max": {q: bon["gold"][q][-1] for q in ("estimate", "lo", "hi")},
            "fall_from_peak": float(est[k] - est[-1]),
            "gain_over_n1_at_n_max": float(est[-1] - est[0]),
            "fit_d_star": fit.get("d_star"), "fit_gold_at_peak": fit.get("gold_at_peak_absolute"),
        }
    return out


def format_sweet_spots(result: dict[str, Any]) -> str:
    """Terminal lines: per proxy and rule, n*, the gold there and at the largest n (with CIs when computed)."""
    lines = [f"gold: {result['gold']}; {result['n_prompts']} prompts x {result['n_candidates']} candidates"]
    for name, res in result.get("proxies", {}).items():
        se = res.get("spread_error") or {}
        if se.get("mean") is not None:
            lines.append(f"{name}: Spearman(spread, |error vs gold|) within prompts {se['mean']:+.3f} over "
                         f"{se['n_prompts']} prompts (pessimism can only help where spread tracks error: > 0)")
    for name, rules in result["sweet_spots"].items():
        for rule, s in rules.items():
            lines.append(f"{name} [{rule}]: sweet spot n* = {s['n_star']} (KL {s['kl_star']:.2f}): gold "
                         f"{_with_ci(s['gold_at_n_star'])}; at n = {s['n_max']}: {_with_ci(s['gold_at_n_max'])}")
    return "\n".join(lines)


def _with_ci(q: dict[str, Any]) -> str:
    """`estimate [lo, hi]`, or the estimate alone when there are no bounds (--n-resamples 0)."""
    if q.get("lo") is None or q.get("hi") is None:
        return f"{q['estimate']:.3f}"
    return f"{q['estimate']:.3f} [{q['lo']:.3f}, {q['hi']:.3f}]"


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")[-40:] or "proxy"


# ---------------------------------------------------------------------------------------------- the stages


def _stage_pools(data: Any, n: int | None) -> Pools:
    """The pools a stage spec names (its DataSpec), the first n candidates of each; skipped records are logged."""
    if not data.source:
        raise RewardlabError("--data is required: the K-sample pools {prompt, responses, ...}")
    return as_pools(data.load().report_skipped().records, n=n, source=data.source)


@dataclass
class BonResult:
    """The picks of `rewardlab bon` (one row per prompt) and what they came from."""

    rows: list[dict[str, Any]]
    n_candidates: int
    select: str
    scorer: str
    files: list[str]

    def lines(self) -> list[str]:
        ties = sum(r["n_ties"] > 1 for r in self.rows)
        mean = sum(r["reward"] for r in self.rows) / max(1, len(self.rows))
        return [f"best-of-{self.n_candidates} [{self.select}] with {self.scorer}: {len(self.rows)} picks, mean "
                f"reward {mean:.3f}; {ties} prompts had tied best candidates (lowest index kept)"]


def run_bon(spec: Any) -> BonResult:
    """`rewardlab bon` from its spec: pick each pool's best candidate and write the picks as JSONL.

    Args:
        spec: a `rewardlab.optimize.spec.BonSpec`.

    Returns:
        BonResult: the rows written ({id, prompt, index, response, score, reward, n_ties}) and the file.

    Raises:
        RewardlabError: no model, data or output; unreadable pools; what scoring raises.

    Example:
        >>> from rewardlab.optimize.spec import BonSpec
        >>> spec = BonSpec.from_options(model="runs/rm", data="pools.jsonl", output="picks.jsonl")
        >>> run_bon(spec).lines()  # doctest: +SKIP
    """
    from rewardlab.scoring import get_scorer

    if not spec.model:
        raise RewardlabError("--model is required: the reward model that picks")
    if not spec.run.output:
        raise RewardlabError("--output is required: the JSONL file of picks")
    pools = _stage_pools(spec.data, spec.n)
    scorer = get_scorer(spec.model, bf16=spec.run.bf16, device=spec.run.device)
    picks = best_of_n(scorer, pools.prompts, pools.candidates, select=spec.select)
    rows = [{"id": rid, "prompt": prompt, **pick} for rid, prompt, pick in zip(pools.ids, pools.prompts, picks,
                                                                                strict=True)]
    out = Path(spec.run.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return BonResult(rows, pools.shape[1], spec.select, scorer.name, [str(out)])


@dataclass
class GoodhartResult:
    """What `rewardlab goodhart` measured (the goodhart.json content) and the files it wrote."""

    result: dict[str, Any]
    files: list[str]

    def lines(self) -> list[str]:
        return format_sweet_spots(self.result).split("\n")


def run_goodhart_stage(spec: Any) -> GoodhartResult:
    """`rewardlab goodhart` from its spec: score the pools with every proxy (and gold when it is a model) and write
    goodhart.json and the plots (the report page is the command line's, which composes the report stage).

    Args:
        spec: a `rewardlab.optimize.spec.GoodhartSpec`.

    Returns:
        GoodhartResult: the result dict (see `run_goodhart`) and the files written.

    Raises:
        RewardlabError: no proxy, gold, data or output; unreadable pools; a bad n grid; what `run_goodhart` raises.

    Example:
        >>> from rewardlab.optimize.spec import GoodhartSpec
        >>> spec = GoodhartSpec.from_options(data="pools.jsonl", proxy=["runs/rm"], gold="scores", output="gh")
        >>> run_goodhart_stage(spec).lines()  # doctest: +SKIP
    """
    from rewardlab.scoring import get_scorer

    for value, flag, what in ((spec.proxy, "--proxy", "the proxy reward model(s)"),
                              (spec.gold, "--gold", "a gold column of the pools or a gold reward model"),
                              (spec.run.output, "--output", "the folder for goodhart.json and the plots")):
        if not value:
            raise RewardlabError(f"{flag} is required: {what}")
    grid = None if spec.n_grid is None else parse_n_grid(spec.n_grid)
    pools = _stage_pools(spec.data, spec.n)
    run = spec.run
    gold = spec.gold if is_gold_column(pools, spec.gold) else get_scorer(spec.gold, bf16=run.bf16, device=run.device)
    proxies: dict[str, Any] = {}
    for source in spec.proxy:
        name = source
        while name in proxies:
            name += "_"
        proxies[name] = get_scorer(source, bf16=run.bf16, device=run.device)
    out = Path(run.output)
    result = run_goodhart(pools, proxies, gold, out, rules=spec.rules(), pi0=spec.pi0, n_resamples=run.n_resamples,
                          seed=run.seed, n_grid=grid)
    return GoodhartResult(result, [str(out / "goodhart.json"), *(str(out / p) for p in result["plots"])])
