"""The serving engine: items in, per-item rewards out; a synchronous core and the asynchronous batching worker.

`ItemScorer` (synchronous, thread-confined) renders items with the reward model's own RenderSpec, checks each
item's token count, and scores many items in one ModelScorer call, so batching by token budget, prefix sharing,
devices and autocast are exactly those of offline scoring (`rewardlab score`): the server gives the same rewards.
An item is either a (prompt, response) pair, rendered by the RenderSpec, or text that is already rendered (OpenRLHF
queries, vLLM/verl `input` strings), tokenised as it is. One bad item never fails the others: rendering errors,
over-long items and model exceptions are reported per item.

`BatchingEngine` (asyncio) owns a bounded queue of requests and one worker task. The worker takes the first
waiting request, keeps collecting requests while they arrive at most `max_wait_ms` apart (in all at most
max(`max_wait_ms`, a tenth of the last batch's model time)) or until about `max_batch_tokens` tokens wait, and
scores them together in a single model thread, so the event loop never runs the model and requests from many
clients share batches (and, for decoders, prompts).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rewardlab.data.schema import Text, text_of
from rewardlab.errors import RewardlabError

logger = logging.getLogger(__name__)


@dataclass
class Item:
    """One thing to score: a (prompt, response) pair, or `text` that is already rendered (raw).

    Example:
        >>> Item(prompt="What is 2+2?", response="4").is_raw, Item(text="What is 2+2? 4").is_raw
        (False, True)
    """

    prompt: Text | None = None
    response: Text | None = None
    text: str | None = None

    @property
    def is_raw(self) -> bool:
        """Whether the item is pre-rendered text rather than a (prompt, response) pair."""
        return self.text is not None

    def n_chars(self) -> int:
        """Characters of the item's text (prompt and response contents, or the rendered text).

        Example:
            >>> Item(prompt="What is 2+2?", response="4").n_chars(), Item(text="abc").n_chars()
            (13, 3)
        """
        if self.text is not None:
            return len(self.text)
        return len(text_of(self.prompt or "")) + len(text_of(self.response or ""))

    def size_hint(self) -> int:
        """A cheap token estimate (characters / 4), used to form batches and to bound the queue's tokens."""
        return self.n_chars() // 4 + (4 if self.text is not None else 8)


@dataclass
class ItemResult:
    """The outcome of one item: its reward (mean), std and ensemble members, token count and truncation, or an
    error (`error_kind` 'input' for the item's own fault, 'model' for an exception in the model)."""

    reward: float | None = None
    std: float | None = None
    members: list[float] | None = None
    n_tokens: int | None = None
    truncated: bool = False
    error: str | None = None
    error_kind: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _each_or_error(fn: Any, firsts: list[Any], seconds: list[Any]) -> list[Any]:
    """`fn(firsts, seconds)` (one result per element) in one call; when that raises, element by element, so
    an element that breaks `fn` (a text the tokenizer cannot take) becomes its own exception and the others
    still get their results."""
    if not firsts:
        return []
    try:
        return list(fn(firsts, seconds))
    except Exception:
        out: list[Any] = []
        for a, b in zip(firsts, seconds, strict=True):
            try:
                out.append(fn([a], [b])[0])
            except Exception as e:
                out.append(RewardlabError(f"cannot tokenise this item: {type(e).__name__}: {e}"))
        return out


class _PreRendered:
    """A renderer stand-in whose `encode` returns the already-encoded items it is given as prompts, so that a
    ModelScorer can score encodings made beforehand (its batching and model path stay its own)."""

    def __init__(self, spec: Any):
        self.spec = spec

    def encode(self, prompts: list[Any], responses: list[Any]) -> list[dict[str, Any]]:
        return list(prompts)


def strip_tokens(text: str, tokens: Sequence[str | None], trailing_only: bool = False) -> str:
    """`text` without the given token strings (and surrounding whitespace) at its ends."""
    toks = [t for t in tokens if t]
    changed = True
    while changed and toks:
        changed = False
        for t in toks:
            stripped = text.rstrip()
            if stripped.endswith(t):
                text, changed = stripped[: -len(t)], True
            if not trailing_only and text.lstrip().startswith(t):
                text, changed = text.lstrip()[len(t) :], True
    return text


def split_queries(queries: Sequence[str], prompts: Sequence[str] | None, tokenizer: Any = None,
                  template: str = "auto") -> list[Item]:
    """OpenRLHF's (query, prompt) pairs as Items, to be rendered by the reward model's own RenderSpec.

    OpenRLHF's prompts carry the policy's chat template and its queries are prompt + decoded response, the
    policy's stop token included. A query in a known chat template (`template`, or detected with 'auto') is parsed
    back into the prompt's messages and the response with the policy's stop tokens removed
    (`rewardlab.chat_parse`). Otherwise, where the prompt starts its query, the rest is the response (trailing pad /
    EOS strings of the reward model's tokenizer removed); else the query is taken as already-rendered text.

    Args:
        queries: prompt + response texts.
        prompts: their prompts, or None.
        tokenizer: the reward model's tokenizer (its pad and EOS strings), or None.
        template: the policy's chat template: 'auto', 'none' (never parse), or a name from
            `rewardlab.chat_parse.TEMPLATE_NAMES`.

    Returns:
        One Item per query.

    Example:
        >>> [it.is_raw for it in split_queries(["2+2? 4", "free text"], ["2+2?", "other"])]
        [False, True]
        >>> split_queries(["Q: 2+2? A: 4</s>"], ["Q: 2+2?"], None)[0].response
        ' A: 4</s>'
        >>> p = "<|im_start|>user\\n2+2?<|im_end|>\\n<|im_start|>assistant\\n"
        >>> it = split_queries([p + "4<|im_end|>"], [p])[0]
        >>> it.prompt, it.response
        ('2+2?', '4')
    """
    from rewardlab.chat_parse import split_templated

    specials = [tokenizer.pad_token, tokenizer.eos_token] if tokenizer is not None else []
    items = []
    for i, q in enumerate(queries):
        p = prompts[i] if prompts is not None else None
        parsed = None if template == "none" else split_templated(strip_tokens(q, specials[:1]), p, template)
        if parsed is not None:
            messages, response, _ = parsed
            one_turn = len(messages) == 1 and messages[0]["role"] == "user"
            items.append(Item(prompt=messages[0]["content"] if one_turn else messages,
                              response=strip_tokens(response, specials, trailing_only=True)))
        elif p and q.startswith(p):
            items.append(Item(prompt=p, response=strip_tokens(q[len(p) :], specials, trailing_only=True)))
        else:
            items.append(Item(text=q))
    return items


class ItemScorer:
    """Score Items with a reward model (rendered by its RenderSpec) or with any Scorer; thread-confined.

    Args:
        source: a ModelScorer, a LoadedModel (`rewardlab.load(...)`), or any Scorer (then items are passed to
            `score` as they are, raw text as a response to an empty prompt, and token counts are unknown).
        token_budget: token budget of one model batch (default: a ModelScorer's own; 16384 for a LoadedModel).
        max_tokens_per_item: an item with more tokens than this before truncation is refused (its own error).
        bf16: bf16 autocast (for a LoadedModel).

    Example:
        >>> from rewardlab.scoring import CallableScorer
        >>> scorer = ItemScorer(CallableScorer(lambda prompt, response: len(response)))
        >>> [r.reward for r in scorer.score_items([Item("2+2?", "four"), Item(text="2+2? 4")])]
        [4.0, 6.0]
    """

    def __init__(self, source: Any, token_budget: int | None = None, max_tokens_per_item: int = 16384,
                 bf16: bool = False):
        # a LoadedModel or ModelScorer exists only once its module is imported: looking there first keeps a
        # server of a remote or Python scorer free of torch
        ckpt, base = sys.modules.get("rewardlab.models.checkpoint"), sys.modules.get("rewardlab.scoring.base")
        ens = sys.modules.get("rewardlab.scoring.ensemble")
        self.max_tokens_per_item = max_tokens_per_item
        self.ensemble: Any = None
        self.member_scorers: list[ItemScorer] = []
        if ens is not None and isinstance(source, ens.EnsembleScorer):
            # each member renders, tokenises, truncates and batches by its own spec; results are combined per item
            self.ensemble = source
            self.member_scorers = [ItemScorer(m, token_budget, max_tokens_per_item, bf16) for m in source.members]
            self.model_scorer = None
            self.scorer = source
            self.renderer = None
            self.tokenizer = None
            self.name = str(source.name)
            return
        if ckpt is not None and isinstance(source, ckpt.LoadedModel):
            from rewardlab.scoring.base import ModelScorer

            source = ModelScorer(source, token_budget=token_budget or 16384, bf16=bf16)
            base = sys.modules["rewardlab.scoring.base"]
        if base is not None and isinstance(source, base.ModelScorer):
            from rewardlab.models.checkpoint import LoadedModel
            from rewardlab.scoring.base import ModelScorer

            self.model_scorer: ModelScorer | None = source
            self.scorer: Any = source
            loaded = source.loaded
            self.renderer = loaded.renderer
            self.tokenizer = loaded.tokenizer
            self._encoded = ModelScorer(
                LoadedModel(loaded.model, loaded.tokenizer, _PreRendered(loaded.renderer.spec), loaded.meta),
                token_budget=token_budget or source.token_budget, max_batch=source.max_batch, bf16=source.bf16,
                name=source.name, prefix_sharing=source.prefix_sharing)
        elif callable(getattr(source, "score", None)):  # any Scorer
            self.model_scorer = None
            self.scorer = source
            self.renderer = None
            self.tokenizer = None
        else:
            raise RewardlabError(f"cannot serve a {type(source).__name__}: expected a ModelScorer, a LoadedModel "
                                 "(rewardlab.load) or a Scorer")
        self.name = str(getattr(self.scorer, "name", "model"))

    # ------------------------------------------------------------------ what the model can report

    @property
    def head(self) -> dict[str, Any] | None:
        """The reward head (type, members, pooling) of a model or an ensemble folder, None for other scorers."""
        if self.ensemble is not None:
            return self.ensemble.head
        if self.model_scorer is None:
            return None
        return self.model_scorer.loaded.model.head_spec.to_dict()

    @property
    def has_std(self) -> bool | None:
        """Whether rewards come with a std (Gaussian or ensemble head); None when unknown (not a model)."""
        h = self.head
        return None if h is None else bool(h["member_gaussian"] or h["n_members"] > 1)

    @property
    def has_members(self) -> bool | None:
        """Whether rewards come with ensemble members; None when unknown (not a model)."""
        h = self.head
        return None if h is None else h["n_members"] > 1

    # ------------------------------------------------------------------ rendering

    def _encode_pairs(self, items: list[Item]) -> list[dict[str, Any] | Exception]:
        """Each pair tokenised once: the renderer cuts after tokenising and reports the length before the cut
        (`full_tokens`), which decides max_tokens_per_item."""
        encs = _each_or_error(self.renderer.encode, [it.prompt for it in items], [it.response for it in items])
        for e in encs:
            if isinstance(e, dict):
                e["n_full"] = e.pop("full_tokens", len(e["input_ids"]))
        return encs

    def _tokenize_raw(self, texts: list[str], unused: list[None]) -> list[list[int]]:
        return self.tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]

    def _encode_raw(self, items: list[Item]) -> list[dict[str, Any] | Exception]:
        r = self.renderer
        tok = self.tokenizer
        chat = r.spec.mode == "chat"
        pre, post = ([], []) if chat else (list(r.layout.prefix), list(r.layout.suffix))
        eos = list(r.eos)
        texts = []
        for it in items:
            t = strip_tokens(it.text, [tok.pad_token])
            if eos and not chat:  # the render spec appends EOS: exactly one, whatever the text ended with
                t = strip_tokens(t, [tok.eos_token], trailing_only=True)
            texts.append(t)
        ids = _each_or_error(self._tokenize_raw, texts, [None] * len(texts))
        budget = r.spec.max_length - len(pre) - len(post) - len(eos)
        out: list[dict[str, Any] | Exception] = []
        for body in ids:
            if isinstance(body, Exception):  # this text could not be tokenised (e.g. a lone surrogate)
                out.append(body)
                continue
            n_full = len(pre) + len(body) + len(post) + len(eos)
            cut = len(body) > budget
            if cut:  # keep the end: the response
                body = body[len(body) - budget :]
            seq = pre + body + post + eos
            enc: dict[str, Any] = {"input_ids": seq, "prompt_len": 0, "truncated": cut, "n_full": n_full}
            if r.layout.has_types:
                enc["token_type_ids"] = [0] * len(seq)
            out.append(enc)
        return out

    def encode(self, items: Sequence[Item]) -> list[dict[str, Any] | Exception]:
        """Render and tokenise each item (model scorers only): an encoding dict, or the exception that item
        raised. Over-long items (`max_tokens_per_item`) come back as RewardlabError."""
        encs: list[dict[str, Any] | Exception] = [RewardlabError("not encoded")] * len(items)
        pairs = [i for i, it in enumerate(items) if not it.is_raw]
        raw = [i for i, it in enumerate(items) if it.is_raw]
        for idx, fn in ((pairs, self._encode_pairs), (raw, self._encode_raw)):
            if idx:
                for i, e in zip(idx, fn([items[i] for i in idx]), strict=True):
                    encs[i] = e
        for i, e in enumerate(encs):
            if isinstance(e, dict):
                n = e.pop("n_full", len(e["input_ids"]))
                if not e["input_ids"]:  # found by the fuzz test: "" as raw text, no special tokens around it
                    encs[i] = RewardlabError("the text is empty: nothing to score")
                elif n > self.max_tokens_per_item:
                    encs[i] = RewardlabError(f"{n} tokens > max_tokens_per_item {self.max_tokens_per_item}")
        return encs

    # ------------------------------------------------------------------ scoring

    def _model_call(self, encs: list[dict[str, Any]]) -> Any:
        return self._encoded.score(encs, [None] * len(encs), progress=False)

    def _scorer_call(self, items: list[Item]) -> Any:
        prompts = ["" if it.is_raw else it.prompt for it in items]
        responses = [it.text if it.is_raw else it.response for it in items]
        return self.scorer.score(prompts, responses, progress=False)

    def _isolated(self, call: Any, units: list[list[int]], payload: list[Any], out: list[ItemResult]) -> None:
        """Score all units in one call; when it fails, each unit alone, then each item alone: an exception
        marks only the items it really belongs to."""
        flat = [i for u in units for i in u]
        try:
            res = call([payload[i] for i in flat])
            if len(res) != len(flat):
                raise RewardlabError(f"the scorer returned {len(res)} rewards for {len(flat)} items")
        except Exception as e:
            if len(flat) == 1:
                logger.warning("model error on one item: %s: %s", type(e).__name__, e)
                out[flat[0]] = ItemResult(error=f"model error: {type(e).__name__}: {e}", error_kind="model")
                return
            logger.debug("batch of %d items failed (%s); retrying in smaller parts", len(flat), e)
            parts = units if len(units) > 1 else [[i] for i in flat]
            for u in parts:
                self._isolated(call, [u], payload, out)
            return
        std = res.std
        members = res.members
        for j, i in enumerate(flat):
            r = out[i]
            r.reward = float(res.mean[j])
            r.std = None if std is None else float(std[j])
            r.members = None if members is None else [float(x) for x in members[j]]
            if not np.isfinite(r.reward) or (r.std is not None and not np.isfinite(r.std)):
                out[i] = ItemResult(n_tokens=r.n_tokens, truncated=r.truncated, error_kind="model",
                                    error=f"model error: non-finite reward {r.reward} (std {r.std})")

    def score_groups(self, groups: Sequence[Sequence[Item]]) -> list[list[ItemResult]]:
        """Score several requests' items together; per-item results in the same nesting.

        Args:
            groups: the items of each request.

        Returns:
            list[list[ItemResult]]: one result per item, an error result where that item failed.
        """
        if self.ensemble is not None:
            return self._ensemble_groups(groups)
        flat = [it for g in groups for it in g]
        bounds = np.cumsum([0] + [len(g) for g in groups])
        out = [ItemResult() for _ in flat]
        if self.model_scorer is not None:
            encs = self.encode(flat)
            ok: set[int] = set()
            for i, e in enumerate(encs):
                if isinstance(e, dict):
                    out[i].n_tokens = len(e["input_ids"])
                    out[i].truncated = bool(e["truncated"])
                    ok.add(i)
                else:
                    out[i] = ItemResult(error=str(e), error_kind="input")
            units = [[i for i in range(bounds[g], bounds[g + 1]) if i in ok] for g in range(len(groups))]
            units = [u for u in units if u]
            if units:
                self._isolated(self._model_call, units, encs, out)
        else:
            units = [list(range(bounds[g], bounds[g + 1])) for g in range(len(groups)) if bounds[g + 1] > bounds[g]]
            if units:
                self._isolated(self._scorer_call, units, flat, out)
        return [out[bounds[g] : bounds[g + 1]] for g in range(len(groups))]

    def _ensemble_groups(self, groups: Sequence[Sequence[Item]]) -> list[list[ItemResult]]:
        """Every member scores the groups; an item fails when any member fails it (that member's error, named),
        else its reward, std and members come from the members' rewards on the ensemble's common scale."""
        per_member = [m.score_groups(groups) for m in self.member_scorers]
        out: list[list[ItemResult]] = []
        for g, items in enumerate(groups):
            res = []
            for i in range(len(items)):
                rs = [pm[g][i] for pm in per_member]
                bad = next(((lab, r) for lab, r in zip(self.ensemble.labels, rs, strict=True) if not r.ok), None)
                if bad is not None:
                    res.append(ItemResult(error=f"ensemble member {bad[0]}: {bad[1].error}",
                                          error_kind=bad[1].error_kind))
                    continue
                comb = self.ensemble.combine([np.array([r.reward]) for r in rs])
                res.append(ItemResult(reward=float(comb.mean[0]), std=float(comb.std[0]),
                                      members=[float(x) for x in comb.members[0]],
                                      n_tokens=max(r.n_tokens or 0 for r in rs) or None,
                                      truncated=any(r.truncated for r in rs)))
            out.append(res)
        return out

    def score_items(self, items: Sequence[Item]) -> list[ItemResult]:
        """Score one list of items (see `score_groups`)."""
        return self.score_groups([list(items)])[0]


# ---------------------------------------------------------------------------------------------- async batching


class QueueFullError(RewardlabError):
    """The request queue is at `max_queue`: the caller should retry later."""


class DrainingError(RewardlabError):
    """The server is shutting down and takes no new requests."""


@dataclass(eq=False)
class Job:
    """One request waiting for the model: its items, the future its results go to, and whether its caller left."""

    items: list[Item]
    future: asyncio.Future
    size: int
    enqueued: float = field(default_factory=time.perf_counter)
    cancelled: bool = False


class BatchingEngine:
    """A bounded queue of requests and one worker that batches them across requests and runs the model in a
    thread.

    Args:
        scorer: the ItemScorer that renders and scores.
        max_batch_tokens: stop collecting requests for a batch once about this many tokens wait.
        max_wait_ms: how long to wait for one more request while forming a batch (see `_collect`).
        max_queue: requests waiting at most; `submit` raises QueueFullError beyond.
        metrics: a ServerMetrics to update, or None.
        max_queue_tokens: estimated tokens (`Item.size_hint`) waiting at most; `submit` raises QueueFullError
            beyond (a request alone in an empty queue is always taken). Default: 16 x max_batch_tokens.
    """

    def __init__(self, scorer: ItemScorer, max_batch_tokens: int = 16384, max_wait_ms: float = 5.0,
                 max_queue: int = 256, metrics: Any = None, max_queue_tokens: int | None = None):
        self.scorer = scorer
        self.max_batch_tokens = max_batch_tokens
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.max_queue_tokens = max_queue_tokens or 16 * max_batch_tokens
        self.queued_tokens = 0
        self.metrics = metrics
        self.queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=max_queue)
        self.draining = False
        self.busy = 0  # jobs in the model right now
        self.n_batches = 0
        self.last_seconds = 0.0  # model time of the last batch (for Retry-After)
        self._task: asyncio.Task | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start the worker on the running event loop (idempotent)."""
        if not self.running:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="rewardlab-model")
            self._task = asyncio.get_running_loop().create_task(self._work(), name="rewardlab-model-worker")

    async def stop(self, timeout: float = 30.0) -> None:
        """Refuse new requests, let waiting ones finish (at most `timeout` seconds), then stop the worker."""
        self.draining = True
        deadline = time.monotonic() + timeout
        while (self.queue.qsize() or self.busy) and time.monotonic() < deadline and self.running:
            await asyncio.sleep(0.01)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        self._task = None
        while not self.queue.empty():  # anything left (timeout): answer rather than hang
            job = self.queue.get_nowait()
            if not job.future.done():
                job.future.set_exception(DrainingError("the server shut down before this request ran"))
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def retry_after(self) -> int:
        """Seconds a refused client should wait: about the time to work off the queue, at least 1."""
        per_batch = max(self.last_seconds, 0.05)
        return max(1, min(60, int(np.ceil(per_batch * (1 + self.queue.qsize() / 8)))))

    def submit(self, items: list[Item]) -> Job:
        """Queue one request; returns its Job (await `job.future` for its list of ItemResult).

        Raises:
            DrainingError: the server is shutting down.
            QueueFullError: `max_queue` requests are already waiting.
        """
        if self.draining:
            raise DrainingError("the server is shutting down")
        self.start()
        job = Job(items, asyncio.get_running_loop().create_future(), sum(it.size_hint() for it in items))
        if self.queue.qsize() and self.queued_tokens + job.size > self.max_queue_tokens:
            raise QueueFullError(f"the request queue is full (about {self.queued_tokens} tokens waiting, "
                                 f"max_queue_tokens {self.max_queue_tokens})")
        try:
            self.queue.put_nowait(job)
        except asyncio.QueueFull:
            raise QueueFullError(f"the request queue is full ({self.max_queue} waiting)") from None
        self.queued_tokens += job.size
        if self.metrics is not None:
            self.metrics.queue_depth.set(self.queue.qsize())
        return job

    async def _collect(self) -> list[Job]:
        """The next batch of requests: the first waiting one, then more while they keep coming (each within
        `max_wait` of the last), until about `max_batch_tokens` tokens wait or the whole wait reaches
        max(`max_wait`, a tenth of the last batch's model time). Under load, clients answered by the last batch
        send their next requests in a burst, and the burst is gathered whole; a lone request waits `max_wait`."""
        loop = asyncio.get_running_loop()
        job = await self.queue.get()
        self.queued_tokens -= job.size
        jobs, size = [job], job.size
        start = loop.time()
        cap = start + max(self.max_wait, 0.1 * self.last_seconds)
        next_by = start + self.max_wait
        while size < self.max_batch_tokens:
            try:
                job = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                remaining = min(cap, next_by) - loop.time()
                if remaining <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self.queue.get(), remaining)
                except TimeoutError:
                    break
            self.queued_tokens -= job.size
            jobs.append(job)
            size += job.size
            next_by = loop.time() + self.max_wait
        return jobs

    async def _score(self, loop: asyncio.AbstractEventLoop, jobs: list[Job]) -> list[Any]:
        """The jobs' results, scored together; when that call fails (score_groups reports item errors itself, so
        this is an unexpected exception), each job alone, so only the job it belongs to gets it."""
        try:
            return await loop.run_in_executor(self._pool, self.scorer.score_groups, [j.items for j in jobs])
        except Exception as e:
            if len(jobs) == 1:
                logger.exception("the model worker failed on one request")
                return [e]
            logger.warning("a batch of %d requests failed (%s: %s); scoring each alone", len(jobs),
                           type(e).__name__, e)
            out: list[Any] = []
            for j in jobs:
                out.extend(await self._score(loop, [j]))
            return out

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = await self._collect()
            live = [j for j in jobs if not j.cancelled and not j.future.done()]
            m = self.metrics
            if m is not None:
                m.queue_depth.set(self.queue.qsize())
            if not live:
                continue
            self.busy = len(live)
            t0 = time.perf_counter()
            try:
                results = await self._score(loop, live)
            finally:
                self.busy = 0
            dt = time.perf_counter() - t0
            self.last_seconds = dt
            self.n_batches += 1
            for j, r in zip(live, results, strict=True):
                if not j.future.done():
                    if isinstance(r, Exception):
                        j.future.set_exception(r)
                    else:
                        j.future.set_result(r)
            results = [r for r in results if not isinstance(r, Exception)]
            if m is not None:
                n_items = sum(len(j.items) for j in live)
                n_tok = sum(x.n_tokens or 0 for r in results for x in r)
                m.observe_batch(n_items, n_tok, dt, [x.error_kind for r in results for x in r if x.error_kind],
                                n_requests=len(live))


__all__ = ["BatchingEngine", "DrainingError", "Item", "ItemResult", "ItemScorer", "Job", "QueueFullError", "split_queries",
           "strip_tokens"]
