"""AlpacaFarm's SFT-data methods as data builders (`rewardlab data build --method ...`).

Each method turns preference data or candidate pools into supervised fine-tuning rows that TRL's `SFTTrainer` loads
as they are, in TRL's prompt-completion format: `{prompt, completion}` with strings (standard), or with message
lists (conversational: the prompt's messages, and the completion as one assistant message). Extra columns (id,
method, reward, round, control) ride along; SFTTrainer ignores them.

- best-of-n: score every candidate of each K-sample pool with a reward model and keep each prompt's best one
  (selection rules as in `rewardlab bon`: mean, lcb:k, quantile:q, min, uwo:lambda).
- expert-iteration: one round of AlpacaFarm's expert iteration. A round = score the pools of the current policy,
  keep each prompt's top-1, keep only the prompts whose best reward is at least `min_reward` and among the top
  `keep_top` fraction, and write those rows with a `round` column. The next round needs new pools sampled from the
  policy fine-tuned on this round (`rewardlab generate --model <fine-tuned policy>`); pass this round's file as
  `previous` and its rows are kept first, so one file holds every round (filter on `round` to train on one).
- feedme: binary FeedME, the chosen response of each preference pair (or the winner of each battle).
- reward-conditioning: binary reward conditioning, both responses of each pair, the chosen one with the positive
  control token before the prompt and the rejected one with the negative token (twice the pairs). At inference,
  condition the prompt on the positive token the same way (`condition_prompt`).

Ties (pairs marked `tie` or with soft label 0.5, battles won by neither) have no preferred response: feedme and
reward-conditioning skip them and count them in the result. A pair whose soft label is below 0.5 (most annotators
preferred the `rejected` column) is taken the way the majority voted.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from rewardlab.config import ConfigError, Spec, option
from rewardlab.data.schema import Text
from rewardlab.data.spec import DataSpec
from rewardlab.errors import RewardlabError

logger = logging.getLogger(__name__)

Method = Literal["best-of-n", "expert-iteration", "feedme", "reward-conditioning"]
Style = Literal["auto", "standard", "conversational"]
SCORED = ("best-of-n", "expert-iteration")
SCHEMA = "rewardlab.sft_build/1"


@dataclass
class SFTBuildSpec(Spec):
    """What `rewardlab data build` builds, from what, and where it writes.

    Example:
        >>> SFTBuildSpec(method="feedme", output="sft/train.jsonl").style
        'auto'
        >>> SFTBuildSpec(method="feedme", model="runs/rm")
        Traceback (most recent call last):
        rewardlab.config.ConfigError: model is for best-of-n and expert-iteration; feedme uses the preferences themselves
    """

    section_title = "build"

    method: Method = option("best-of-n", flag="--method", help="best-of-n, expert-iteration (need K-sample pools "
                            "and --model), feedme or reward-conditioning (need preference pairs or battles).")
    output: str | None = option(None, flag="--output", aliases=("-o",), help="Output JSONL (or .parquet) in TRL's "
                                "prompt-completion format; put it alone in a folder as train.jsonl and pass the "
                                "folder to `trl sft --dataset_name`.")
    model: str | None = option(None, flag="--model", aliases=("-m",), help="Reward model that picks the best "
                               "candidate (best-of-n, expert-iteration): checkpoint folder, HF reward model, "
                               "http(s)://server/get_reward, file:scores.jsonl or py:module:function.")
    n_candidates: int | None = option(None, min=1, flag="--n-candidates", aliases=("-n",), help="Use the first n "
                                      "candidates of each pool (default: all; pools must then have equal sizes).")
    select: str = option("mean", help="Selection rule of the best candidate: mean, lcb:k, quantile:q, min or "
                         "uwo:lambda (as in `rewardlab bon`).")
    round_number: int | None = option(None, min=1, flag="--round", help="expert-iteration: this round's number, "
                                      "written in the `round` column (default: 1, or one more than the last round "
                                      "of --previous).")
    previous: str | None = option(None, help="expert-iteration: the SFT file of the earlier rounds; its rows are "
                                  "written first, so the output holds every round.")
    keep_top: float = option(1.0, min=0.0, min_exclusive=True, max=1.0, help="expert-iteration: keep only the "
                             "prompts whose best reward is among the top fraction of prompts (1: all).")
    min_reward: float | None = option(None, help="expert-iteration: drop the prompts whose best reward is below "
                                      "this.")
    positive_token: str = option("<|good|>", help="reward-conditioning: control token written before the prompt of "
                                 "each chosen response (and at inference).")
    negative_token: str = option("<|bad|>", help="reward-conditioning: control token written before the prompt of "
                                 "each rejected response.")
    style: Style = option("auto", help="standard (strings), conversational (message lists; string prompts become "
                          "one user message) or auto (conversational when any prompt or response is a message "
                          "list).")
    device: str = option("auto", help="Device of a model scorer: auto, cpu, cuda, cuda:N or mps.")
    bf16: bool = option(False, help="bf16 autocast while scoring with a model.")
    summary: str | None = option(None, help="Also write the build summary as JSON (keep it out of the SFT file's "
                                 "folder).")
    data: DataSpec = field(default_factory=DataSpec)

    def check(self) -> None:
        if self.method not in SCORED:
            for name in ("model", "n_candidates"):
                if getattr(self, name) is not None:
                    raise ConfigError(f"{{0}} is for best-of-n and expert-iteration; {self.method} uses the "
                                      "preferences themselves", name)
        if self.method != "expert-iteration":
            for name in ("round_number", "previous", "min_reward"):
                if getattr(self, name) is not None:
                    raise ConfigError("{0} is an expert-iteration setting", name)
            if self.keep_top != 1.0:
                raise ConfigError("{0} is an expert-iteration setting", "keep_top")
        if self.method == "reward-conditioning":
            if not self.positive_token.strip() or not self.negative_token.strip():
                raise ConfigError("{0} and {1} must not be empty", "positive_token", "negative_token")
            if self.positive_token == self.negative_token:
                raise ConfigError("{0} and {1} must differ", "positive_token", "negative_token")


@dataclass
class SFTBuildResult:
    """What one build wrote: row counts, what was skipped and why, and (scored methods) the picked rewards.

    `rows_previous` counts the rows carried over from `previous`; `skipped` maps a reason to a count; `threshold`
    is the lowest best-reward kept (expert-iteration); the reward means are under the reward model's mean.
    """

    method: str
    output: str
    style: str
    n_records: int
    rows_written: int
    rows_previous: int = 0
    round: int | None = None
    skipped: dict[str, int] = field(default_factory=dict)
    scorer: str | None = None
    select: str | None = None
    reward_mean_all: float | None = None
    reward_mean_kept: float | None = None
    threshold: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **asdict(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SFTBuildResult:
        return cls(**{k: v for k, v in d.items() if k != "schema"})

    def write(self, path: str | Path) -> Path:
        """Write the result as JSON (not beside the SFT file: `trl sft --dataset_name DIR` reads every JSON there)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.to_dict(), indent=2))
        return p

    @classmethod
    def read(cls, path: str | Path) -> SFTBuildResult:
        return cls.from_dict(json.loads(Path(path).read_text()))

    def lines(self) -> list[str]:
        """A readable summary."""
        head = f"{self.method}: {self.rows_written} {self.style} prompt-completion rows from {self.n_records} records"
        if self.round is not None:
            head += f" (round {self.round})"
        out = [head]
        if self.scorer:
            out.append(f"picked with {self.scorer} [{self.select}]: mean reward of the best candidates "
                       f"{self.reward_mean_all:.3f}" + (f", of the kept ones {self.reward_mean_kept:.3f}"
                                                        if self.reward_mean_kept is not None else ""))
        if self.threshold is not None:
            out.append(f"kept prompts whose best reward is >= {self.threshold:.4g}")
        for reason, n in self.skipped.items():
            out.append(f"skipped {n} {reason}")
        if self.rows_previous:
            out.append(f"kept {self.rows_previous} rows of the earlier rounds first")
        out.append(f"wrote {self.rows_previous + self.rows_written} rows to {self.output}")
        return out


def condition_prompt(prompt: Text, token: str) -> Text:
    """The prompt with a reward-conditioning control token in front: before a string prompt (one space between),
    or before the content of a conversation's first message.

    Args:
        prompt: a string or a list of {role, content} messages.
        token: the control token, e.g. "<|good|>".
    Returns:
        The conditioned prompt (a new list for conversations; the input is not changed).

    Example:
        >>> condition_prompt("Name a colour.", "<|good|>")
        '<|good|> Name a colour.'
        >>> condition_prompt([{"role": "user", "content": "Hi"}], "<|bad|>")
        [{'role': 'user', 'content': '<|bad|> Hi'}]
    """
    if isinstance(prompt, str):
        return f"{token} {prompt}"
    msgs = [dict(m) for m in prompt]
    msgs[0]["content"] = f"{token} {msgs[0]['content']}"
    return msgs


def _is_chat(x: Any) -> bool:
    return isinstance(x, list)


def _as_prompt(prompt: Text, chat: bool) -> Text:
    return prompt if not chat or _is_chat(prompt) else [{"role": "user", "content": prompt}]


def _as_completion(response: Text, chat: bool) -> Text:
    if not chat:
        return response
    return response if _is_chat(response) else [{"role": "assistant", "content": response}]


def _resolve_style(style: str, texts: list[Any], where: str) -> bool:
    """Whether the rows are conversational; `standard` with a message list is an error naming the record."""
    chat_at = next((i for i, t in enumerate(texts) if _is_chat(t)), None)
    if style == "standard" and chat_at is not None:
        raise RewardlabError(f"{where}: --style standard, but record {chat_at // 3} holds a conversation (a list "
                             "of messages); use --style conversational or auto")
    return style == "conversational" or (style == "auto" and chat_at is not None)


def _preferences(records: list[Any], source: str) -> tuple[list[tuple[str, Text, Text, Text]], int]:
    """(id, prompt, preferred, other) of every decided pair or battle (a pair's soft label below 0.5 swaps its
    columns), and the number of ties skipped."""
    from rewardlab.data.schema import Battle, PreferencePair

    out, ties = [], 0
    for i, r in enumerate(records):
        rid = r.id or str(i)
        if isinstance(r, PreferencePair):
            if r.tie or r.label == 0.5:
                ties += 1
                continue
            flipped = r.label is not None and r.label < 0.5  # most annotators preferred the `rejected` column
            out.append((rid, r.prompt, r.rejected, r.chosen) if flipped else (rid, r.prompt, r.chosen, r.rejected))
        elif isinstance(r, Battle):
            if r.winner not in ("model_a", "model_b"):
                ties += 1
                continue
            a_wins = r.winner == "model_a"
            out.append((rid, r.prompt, r.response_a if a_wins else r.response_b,
                        r.response_b if a_wins else r.response_a))
        else:
            raise RewardlabError(f"{source}: record {rid} holds {type(r).kind} data; feedme and reward-conditioning "
                                 "need preference pairs or battles (for K-sample pools use --method best-of-n)")
    return out, ties


def _read_previous(path: str) -> list[dict[str, Any]]:
    """The rows of an earlier round's SFT file, each with prompt, completion and an integer round."""
    from rewardlab.data.io import iter_rows

    rows = []
    for line, row in iter_rows(path):
        if not isinstance(row, dict):
            raise RewardlabError(str(row))
        for key in ("prompt", "completion", "round"):
            if key not in row:
                raise RewardlabError(f"{path}:{line}: {key}: missing (expected a file written by `rewardlab data "
                                     "build --method expert-iteration`)")
        if isinstance(row["round"], bool) or not isinstance(row["round"], int) or row["round"] < 1:
            raise RewardlabError(f"{path}:{line}: round: must be an integer >= 1, got {row['round']!r}")
        rows.append(row)
    if not rows:
        raise RewardlabError(f"{path}: no rows")
    return rows


def keep_top_prompts(best: list[float], keep_top: float = 1.0, min_reward: float | None = None) -> list[int]:
    """Indices of the prompts an expert-iteration round keeps, in input order: best reward >= `min_reward`, and
    among the ceil(keep_top * P) highest best rewards (ties at the cut broken by input order).

    Args:
        best: each prompt's best reward under the selection rule.
        keep_top: the fraction of prompts kept, in (0, 1].
        min_reward: an absolute floor (None: no floor).
    Returns:
        list[int]: the kept indices, ascending.

    Example:
        >>> keep_top_prompts([0.1, 0.9, 0.5, 0.7], keep_top=0.5)
        [1, 3]
        >>> keep_top_prompts([0.1, 0.9, 0.5, 0.7], min_reward=0.5)
        [1, 2, 3]
    """
    order = sorted(range(len(best)), key=lambda i: (-best[i], i))
    top = set(order[:math.ceil(keep_top * len(best) - 1e-9)])
    return [i for i in range(len(best)) if i in top and (min_reward is None or best[i] >= min_reward)]


def _warn_folder(output: Path) -> None:
    others = sorted(p.name for p in output.parent.glob("*") if p != output and p.suffix in (
        ".jsonl", ".json", ".parquet", ".csv", ".arrow", ".gz"))
    if others:
        logger.warning(f"{output.parent} also holds {others}: `trl sft --dataset_name {output.parent}` would read "
                       "them too; keep the SFT file alone in its folder")


@dataclass
class SFTBuildRun:
    """`rewardlab data build` as a stage result: the build's summary and the files written."""

    result: SFTBuildResult
    files: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return self.result.lines()


def run_build(spec: SFTBuildSpec) -> SFTBuildRun:
    """`build_sft_data`, then the summary JSON when `spec.summary` names a file.

    Args:
        spec: the method, the data, the scorer settings and the outputs.
    Returns:
        SFTBuildRun: the build result and the summary file (when written).
    Raises:
        RewardlabError: as `build_sft_data`.

    Example:
        >>> run_build(SFTBuildSpec.from_options(method="feedme", data="pairs.jsonl", output="sft.jsonl"))  # doctest: +SKIP
    """
    res = build_sft_data(spec)
    return SFTBuildRun(res, [str(res.write(spec.summary))] if spec.summary else [])


def build_sft_data(spec: SFTBuildSpec, scorer: Any = None, progress: bool = True) -> SFTBuildResult:
    """Build SFT rows from pools or preferences with one of AlpacaFarm's methods and write them.

    Args:
        spec: the method, input (`spec.data`), output and method settings.
        scorer: a Scorer to use instead of loading `spec.model` (Python callers, tests).
        progress: a progress bar while scoring.
    Returns:
        SFTBuildResult: counts, skips and (scored methods) reward summaries.
    Raises:
        RewardlabError: no input or output, the wrong kind of records for the method, a message-list record with
            `style="standard"`, unequal pools without `n_candidates`, a bad selection rule, a bad `previous` file
            (naming file, line and field), a round number not after the previous rounds, or an expert-iteration
            round that keeps no prompt.

    Example:
        >>> from rewardlab.data.spec import DataSpec
        >>> res = build_sft_data(SFTBuildSpec(method="feedme", output="sft/train.jsonl",
        ...                                   data=DataSpec(source="pairs.jsonl")))  # doctest: +SKIP
        >>> res.rows_written  # doctest: +SKIP
        2000
    """
    from rewardlab.data.io import write_records

    if not spec.output:
        raise RewardlabError("data build: no output given (--output)")
    if not spec.data.source:
        raise RewardlabError("data build: no input given (--data)")
    source = spec.data.source
    res = spec.data.load(source)
    if res.skipped:
        logger.warning(f"{source}: skipped {len(res.skipped)} invalid record(s) of {res.n_read}")
    records = res.records
    rows: list[dict[str, Any]] = []
    result = SFTBuildResult(method=spec.method, output=spec.output, style="standard", n_records=len(records),
                            rows_written=0)
    previous: list[dict[str, Any]] = []

    if spec.method in SCORED:
        from rewardlab.optimize.run import as_pools, best_of_n

        if scorer is None and not spec.model:
            raise RewardlabError(f"data build --method {spec.method}: no reward model given (--model) to pick each "
                                 "prompt's best candidate")
        pools = as_pools(records, n=spec.n_candidates, source=source)
        chat = _resolve_style(spec.style, [t for p, c in zip(pools.prompts, pools.candidates, strict=True)
                                           for t in (p, c[0], c[0])], source)
        if scorer is None:
            from rewardlab.scoring import get_scorer

            scorer = get_scorer(spec.model, bf16=spec.bf16, device=spec.device)
        picks = best_of_n(scorer, pools.prompts, pools.candidates, select=spec.select, progress=progress)
        kept = list(range(len(picks)))
        round_no = None
        if spec.method == "expert-iteration":
            if spec.previous:
                previous = _read_previous(spec.previous)
                prev_chat = _is_chat(previous[0]["prompt"])
                if prev_chat != chat:
                    raise RewardlabError(f"{spec.previous}: its rows are {'conversational' if prev_chat else 'standard'}"
                                         f", this round's are {'conversational' if chat else 'standard'}; one file "
                                         "must hold one style (set --style)")
            last = max((r["round"] for r in previous), default=0)
            round_no = spec.round_number or last + 1
            if round_no <= last:
                raise RewardlabError(f"--round {round_no}: {spec.previous} already holds round {last}; a new round "
                                     "must come after it")
            best = [p["score"] for p in picks]
            kept = keep_top_prompts(best, spec.keep_top, spec.min_reward)
            if not kept:
                raise RewardlabError(f"expert-iteration: no prompt's best reward reaches --min-reward "
                                     f"{spec.min_reward} (the highest is {max(best):.4g})")
            result.threshold = min(best[i] for i in kept) if len(kept) < len(picks) else None
            if len(kept) < len(picks):
                result.skipped["prompts below the cut"] = len(picks) - len(kept)
        for i in kept:
            pick = picks[i]
            row: dict[str, Any] = {"prompt": _as_prompt(pools.prompts[i], chat),
                                   "completion": _as_completion(pick["response"], chat), "id": pools.ids[i],
                                   "method": spec.method}
            if round_no is not None:
                row["round"] = round_no
            row.update({"reward": pick["reward"], "score": pick["score"], "index": pick["index"],
                        "n_candidates": pools.shape[1]})
            rows.append(row)
        result.round = round_no
        result.scorer = getattr(scorer, "name", "scorer")
        result.select = spec.select
        result.reward_mean_all = sum(p["reward"] for p in picks) / len(picks)
        if len(kept) < len(picks):
            result.reward_mean_kept = sum(picks[i]["reward"] for i in kept) / len(kept)
    else:
        prefs, ties = _preferences(records, source)
        if ties:
            result.skipped["ties (no preferred response)"] = ties
        if not prefs:
            raise RewardlabError(f"{source}: no pair with a preferred response")
        chat = _resolve_style(spec.style, [t for _, p, c, r in prefs for t in (p, c, r)], source)
        for rid, prompt, chosen, rejected in prefs:
            if spec.method == "feedme":
                rows.append({"prompt": _as_prompt(prompt, chat), "completion": _as_completion(chosen, chat),
                             "id": rid, "method": spec.method})
                continue
            for control, token, response in (("positive", spec.positive_token, chosen),
                                             ("negative", spec.negative_token, rejected)):
                rows.append({"prompt": condition_prompt(_as_prompt(prompt, chat), token),
                             "completion": _as_completion(response, chat), "id": rid, "method": spec.method,
                             "control": control})

    result.style = "conversational" if chat else "standard"
    result.rows_written = len(rows)
    result.rows_previous = len(previous)
    out = Path(spec.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    _warn_folder(out)
    write_records(previous + rows, str(out))
    return result


__all__ = ["SFTBuildResult", "SFTBuildSpec", "build_sft_data", "condition_prompt", "keep_top_prompts"]
