"""The Scorer protocol and its implementations: rewardlab/HF checkpoints, remote HTTP RMs, callables, files.

Every consumer (evaluation, audit, best-of-N, the server) takes any Scorer, so they all see the same rewards.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from tqdm.auto import tqdm

from rewardlab.batching import length_batches, pad_batch
from rewardlab.data.schema import Text, text_of
from rewardlab.errors import RewardlabError
from rewardlab.runtime import autocast, log_once, model_device, resolve_device, to_device, warn_if_slow_bf16
from rewardlab.scoring.output import RewardOutput


@runtime_checkable
class Scorer(Protocol):
    """Anything that turns (prompt, response) pairs into rewards."""

    name: str

    def score(self, prompts: Sequence[Text], responses: Sequence[Text], progress: bool = True) -> RewardOutput:
        """Rewards of each (prompts[i], responses[i])."""
        ...


class ModelScorer:
    """A rewardlab checkpoint or any HF sequence-classification RM, rendered by its own RenderSpec.

    Batches are sorted by length and sized by a token budget; results do not depend on batch size or on which
    other sequences share a batch (padding is masked and positions count real tokens only).

    prefix_sharing: with a causal decoder, responses that share a prompt (best-of-N, K-sample sets, pairs) run
    the prompt once and reuse its key/value cache (`rewardlab.scoring.prefix`); same rewards (1e-4). None (the
    default) turns it on whenever the model allows it exactly, and logs once why not when a causal decoder
    cannot share; False always runs prompt + response per item.

    device: None keeps the model where it is; otherwise it is moved there ('cpu', 'cuda', 'cuda:1', 'auto').
    Every batch goes to the model's device and bf16 autocast runs on that device's type.

    Args:
        loaded: a LoadedModel (`rewardlab.load(...)`): model, tokenizer, renderer and metadata.
        token_budget: the most tokens (padded length x batch size) of one batch.
        max_batch: the most sequences of one batch.
        bf16: run the model under bf16 autocast.
        name: the scorer's name in reports (default: the checkpoint path, else "model").
        prefix_sharing: True requires prompt KV-cache sharing, False turns it off, None decides (see above).
        device: where to move the model first; None keeps it where it is.

    Raises:
        RewardlabError: prefix_sharing=True but this model cannot share prompts (the message says why).

    Example:
        >>> from rewardlab import ModelScorer, load
        >>> scorer = ModelScorer(load("runs/rm"), token_budget=8192, bf16=True)  # doctest: +SKIP
        >>> scorer = ModelScorer.from_path("runs/rm", device="cpu")  # doctest: +SKIP
        >>> out = scorer.score(["What is 2+2?", "What is 2+2?"], ["4", "5"], progress=False)  # doctest: +SKIP
        >>> out.mean.shape  # doctest: +SKIP
        (2,)
    """

    def __init__(self, loaded: Any, token_budget: int = 16384, max_batch: int = 128, bf16: bool = False,
                 name: str | None = None, prefix_sharing: bool | None = None,
                 device: str | torch.device | None = None):
        self.loaded = loaded
        self.token_budget = token_budget
        self.max_batch = max_batch
        self.bf16 = bf16
        self.name = name or str(loaded.meta.get("path", "model"))
        if device is not None:
            loaded.model.to(resolve_device(device))
        warn_if_slow_bf16(model_device(loaded.model), bf16)
        problem = loaded.model.prefix_sharing_problem() if prefix_sharing is not False else None
        if prefix_sharing and problem:
            raise RewardlabError(f"prefix sharing is not possible for this model: {problem}")
        if prefix_sharing is None and problem and loaded.model.is_causal_decoder():
            log_once(f"prefix-sharing:{problem}", f"prefix sharing is off for this causal decoder, so each "
                     f"response re-runs its prompt (slower, same rewards): {problem}")
        self.prefix_sharing = prefix_sharing is not False and problem is None

    @property
    def device(self) -> torch.device:
        """Where the model (and so every batch) is."""
        return model_device(self.loaded.model)

    @classmethod
    def from_path(cls, path: str, device: str | torch.device | None = "auto", **kwargs: Any) -> ModelScorer:
        """Load a checkpoint folder, the MiniLM alias or a hub id onto `device` (default: cuda if available)."""
        from rewardlab.models.checkpoint import load

        loaded = load(path, device=resolve_device(device))
        loaded.meta.setdefault("path", path)
        return cls(loaded, name=path, **kwargs)

    @torch.inference_mode()
    def score(self, prompts: Sequence[Text], responses: Sequence[Text], progress: bool = True) -> RewardOutput:
        """Rewards of each (prompts[i], responses[i]), rendered and batched as the class docstring says.

        Args:
            prompts: N prompts, each a string or a conversation (a list of {"role", "content"} messages).
            responses: N responses, each a string or a list of messages.
            progress: show a progress bar.

        Returns:
            RewardOutput: `mean` [N]; `std` [N] for a Gaussian or ensemble head, else None; `members` [N, K] for
            an ensemble of K members, else None. Empty inputs give an empty output.

        Raises:
            RewardlabError: prompts and responses differ in length.

        Example:
            >>> from rewardlab import ModelScorer
            >>> scorer = ModelScorer.from_path("runs/rm")  # doctest: +SKIP
            >>> out = scorer.score(["2+2?", "2+2?"], ["4", "5"], progress=False)  # doctest: +SKIP
            >>> bool(out.mean[0] > out.mean[1])  # doctest: +SKIP
            True
        """
        if len(prompts) != len(responses):
            raise RewardlabError(f"{len(prompts)} prompts but {len(responses)} responses")
        if not prompts:
            return RewardOutput(np.zeros(0))
        enc = self.loaded.renderer.encode(list(prompts), list(responses))
        rm = self.loaded.model
        rm.eval()
        pad_id = self.loaded.tokenizer.pad_token_id
        lengths = [len(e["input_ids"]) for e in enc]
        n = len(enc)
        mean = np.zeros(n)
        k = rm.head_spec.n_members
        has_var = rm.head_spec.member_gaussian or k > 1
        std = np.zeros(n) if has_var else None
        members = np.zeros((n, k)) if k > 1 else None
        plain = list(range(n))
        parts: list[Any] = []
        if self.prefix_sharing:
            from rewardlab.scoring.prefix import prefix_groups, prefix_outputs

            groups, plain = prefix_groups(enc)
            if groups:
                parts.append(prefix_outputs(rm, groups, enc, pad_id, self.token_budget, self.max_batch, self.bf16))
        sub = length_batches([lengths[i] for i in plain], self.token_budget, self.max_batch)
        parts.append(self._plain_outputs([[plain[j] for j in b] for b in sub], enc, pad_id))
        bar = tqdm(total=n, desc=f"scoring {n} responses", disable=not progress, leave=False)
        for part in parts:
            for rows, out in part:
                mean[rows] = out["mean"].float().cpu().numpy()
                if std is not None:
                    std[rows] = out["var"].float().sqrt().cpu().numpy()
                if members is not None:
                    members[rows] = out["members"].float().cpu().numpy()
                bar.update(len(rows))
        bar.close()
        return RewardOutput(mean, std, members)

    def _plain_outputs(self, batches: list[list[int]], enc: list[dict[str, Any]], pad_id: int):
        dev = self.device
        for b in batches:
            types = [enc[i]["token_type_ids"] for i in b] if "token_type_ids" in enc[0] else None
            batch = to_device(pad_batch([enc[i]["input_ids"] for i in b], pad_id, types), dev)
            with autocast(dev, self.bf16):
                yield b, self.loaded.model(**batch)


class CallableScorer:
    """Wrap a Python function: batch form f(prompts, responses) -> list[float], or per item f(prompt, response).

    Args:
        fn: the reward function, batched (lists in, one number per item out) or per item (one pair, one number).
        name: the scorer's name in reports (default: the function's __name__).
        batched: whether fn takes whole lists; None (default) means batched when fn has a parameter named
            `prompts` or `responses`, else per item.

    Example:
        >>> from rewardlab import CallableScorer
        >>> per_item = CallableScorer(lambda prompt, response: len(response), name="length")
        >>> per_item.batched, per_item.score(["Hi", "Hi"], ["Hello!", "Hey"], progress=False).mean
        (False, array([6., 3.]))
        >>> def count_words(prompts, responses):
        ...     return [len(r.split()) for r in responses]
        >>> batched = CallableScorer(count_words)
        >>> batched.name, batched.batched, batched.score(["Q"], ["two words"]).mean
        ('count_words', True, array([2.]))
    """

    def __init__(self, fn: Callable[..., Any], name: str | None = None, batched: bool | None = None):
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "callable")
        if batched is None:
            batched = any(p in inspect.signature(fn).parameters for p in ("prompts", "responses"))
        self.batched = batched

    def score(self, prompts: Sequence[Text], responses: Sequence[Text], progress: bool = True) -> RewardOutput:
        """Rewards of each (prompts[i], responses[i]): one call of fn (batched) or one call per item.

        Args:
            prompts: N prompts (strings or lists of messages), passed to fn unchanged.
            responses: N responses, passed to fn unchanged.
            progress: show a progress bar (per-item form only).

        Returns:
            RewardOutput: the N rewards as `mean` (no std, no members).

        Raises:
            RewardlabError: fn returned a number of rewards other than N.
            ValueError: (per-item form) prompts and responses differ in length; or a reward is a string that is
                not a number.

        Example:
            >>> from rewardlab import CallableScorer
            >>> CallableScorer(lambda prompt, response: 1.0).score(["a", "b"], ["c", "d"], progress=False).mean
            array([1., 1.])
        """
        if self.batched:
            vals = list(self.fn(list(prompts), list(responses)))
        else:
            vals = [self.fn(p, r) for p, r in tqdm(list(zip(prompts, responses, strict=True)), disable=not progress,
                                                   desc="scoring", leave=False)]
        if len(vals) != len(prompts):
            raise RewardlabError(f"scorer {self.name} returned {len(vals)} rewards for {len(prompts)} responses")
        return RewardOutput(np.asarray(vals, dtype=float))


def item_key(prompt: Text, response: Text) -> str:
    """Stable key of a (prompt, response) pair, for precomputed score files."""
    blob = json.dumps([prompt, response], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


class FileScorer:
    """Precomputed rewards from JSONL rows {prompt, response, reward[, std, members]} (written by `rewardlab score`)."""

    def __init__(self, path: str):
        from rewardlab.data.io import iter_rows

        self.name = f"file:{path}"
        self.table: dict[str, tuple[float, float | None, list[float] | None]] = {}
        for line, row in iter_rows(path):
            if not isinstance(row, dict):
                raise RewardlabError(str(row))
            try:
                members = row.get("members")
                self.table[item_key(row["prompt"], row["response"])] = (
                    float(row["reward"]), row.get("std"), [float(x) for x in members] if members else None)
            except (KeyError, TypeError, ValueError) as e:
                raise RewardlabError(f"{path}:{line}: expected prompt, response and a numeric reward ({e})") from None

    def score(self, prompts: Sequence[Text], responses: Sequence[Text], progress: bool = True) -> RewardOutput:
        mean, std, members, missing = [], [], [], 0
        for p, r in zip(prompts, responses, strict=True):
            hit = self.table.get(item_key(p, r))
            if hit is None:
                missing += 1
                mean.append(np.nan)
                std.append(None)
                members.append(None)
            else:
                mean.append(hit[0])
                std.append(hit[1])
                members.append(hit[2])
        if missing:
            raise RewardlabError(f"{self.name}: {missing} of {len(prompts)} (prompt, response) pairs have no score")
        s = None if any(x is None for x in std) else np.asarray(std, dtype=float)
        mem = None
        if members and all(m is not None for m in members) and len({len(m) for m in members}) == 1:
            mem = np.asarray(members, dtype=float)
        return RewardOutput(np.asarray(mean), s, mem)


class HTTPScorer:
    """A remote reward model: OpenRLHF's POST /get_reward {"query": [...]} -> {"rewards": [...]}, or rewardlab's
    POST /score {"prompts", "responses"} -> {"rewards", "std"?}. Sends batches through
    `rewardlab.scoring.client.RewardClient` (httpx, from the `serve` extra), which retries with backoff and honours
    Retry-After.

    Args:
        url: the endpoint that receives the POST requests; it is also the scorer's name.
        protocol: 'openrlhf' or 'rewardlab'; None (default) picks 'openrlhf' when url ends with get_reward.
        batch_size: items per request.
        timeout: seconds to wait for one answer.
        retries: further attempts after a server error (5xx), a 429, a connection error, a timeout or a non-JSON
            answer.
        api_key: sent as "Authorization: Bearer <api_key>" when given.
        query_template: (openrlhf) how a prompt and a response become one query string; plain text of
            conversations is used.

    Raises:
        RewardlabError: protocol is neither 'openrlhf' nor 'rewardlab'.

    Example:
        >>> from rewardlab import HTTPScorer
        >>> remote = HTTPScorer("http://localhost:5000/get_reward")
        >>> remote.protocol, remote.name
        ('openrlhf', 'http://localhost:5000/get_reward')
        >>> HTTPScorer("http://localhost:8000/score").protocol
        'rewardlab'
        >>> remote.score(["2+2?"], ["4"]).mean  # doctest: +SKIP
        array([1.73])
        >>> HTTPScorer("http://localhost:5000/rm", protocol="grpc")
        Traceback (most recent call last):
        rewardlab.errors.RewardlabError: unknown reward-server protocol 'grpc'
    """

    def __init__(self, url: str, protocol: str | None = None, batch_size: int = 64, timeout: float = 180.0,
                 retries: int = 3, api_key: str | None = None, query_template: str = "{prompt}{response}"):
        self.url = url
        self.protocol = protocol or ("openrlhf" if url.rstrip("/").endswith("get_reward") else "rewardlab")
        if self.protocol not in ("openrlhf", "rewardlab"):
            raise RewardlabError(f"unknown reward-server protocol {self.protocol!r}")
        self.batch_size = batch_size
        self.query_template = query_template
        self.name = url
        # the RewardClient's settings; it is made on first use and sends, retries and backs off for this scorer
        self._client_options = {"api_key": api_key, "timeout": timeout, "retries": retries, "name": url}
        self._client: Any = None
        self._route = ""

    def _post(self, payload: dict[str, Any]) -> dict[str, Any]:
        """POST through `rewardlab.scoring.client.RewardClient` (one retry rule for every client of a reward server)."""
        if self._client is None:
            from rewardlab.scoring.client import RewardClient, split_route

            base, self._route = split_route(self.url)
            self._client = RewardClient(base, **self._client_options)
        return self._client.post(self._route, payload)

    def score(self, prompts: Sequence[Text], responses: Sequence[Text], progress: bool = True) -> RewardOutput:
        """Rewards of each (prompts[i], responses[i]) from the server, `batch_size` items per request.

        Args:
            prompts: N prompts (strings or lists of messages).
            responses: N responses.
            progress: show a progress bar over the requests.

        Returns:
            RewardOutput: the N rewards as `mean`; `std` when the server sent one for every item, else None.

        Raises:
            RewardlabError: a client error (HTTP 4xx), no answer after `retries` + 1 attempts, or an answer without
                one reward per item of the batch.

        Example:
            >>> from rewardlab import HTTPScorer
            >>> HTTPScorer("http://localhost:8000/score").score(["2+2?"], ["4"]).mean  # doctest: +SKIP
            array([1.73])
        """
        means: list[float] = []
        stds: list[float] = []
        for s in tqdm(range(0, len(prompts), self.batch_size), disable=not progress, desc="scoring (remote)",
                      leave=False):
            ps, rs = prompts[s : s + self.batch_size], responses[s : s + self.batch_size]
            if self.protocol == "openrlhf":
                q = [self.query_template.format(prompt=text_of(p), response=text_of(r)) for p, r in zip(ps, rs,
                                                                                                     strict=True)]
                out = self._post({"query": q})
            else:
                out = self._post({"prompts": list(ps), "responses": list(rs)})
            rewards = out.get("rewards")
            if not isinstance(rewards, list) or len(rewards) != len(ps):
                raise RewardlabError(f"{self.url}: expected {len(ps)} rewards, got {str(out)[:200]}")
            means += [float(x) for x in rewards]
            if "std" in out and out["std"] is not None:
                stds += [float(x) for x in out["std"]]
        std = np.asarray(stds) if len(stds) == len(means) and stds else None
        return RewardOutput(np.asarray(means), std)


def score_finite(scorer: Scorer, prompts: Sequence[Text], responses: Sequence[Text], progress: bool,
                 stage: str) -> np.ndarray:
    """Mean rewards of one batched scorer call; a clear error when the scorer returns NaN/inf or a wrong count."""
    out = scorer.score(list(prompts), list(responses), progress=progress).mean
    if out.shape != (len(responses),):
        raise RewardlabError(f"{stage}: scorer {getattr(scorer, 'name', scorer)!r} returned {out.shape[0]} rewards "
                             f"for {len(responses)} responses")
    bad = ~np.isfinite(out)
    if bad.any():
        raise RewardlabError(f"{stage}: scorer {getattr(scorer, 'name', scorer)!r} returned {int(bad.sum())} "
                             f"non-finite rewards of {len(out)} (the audit needs a number for every response)")
    return out


def get_scorer(spec: str, **kwargs: Any) -> Scorer:
    """A scorer from a string: http(s)://... (remote), file:scores.jsonl, py:module:function, or a model path.

    Args:
        spec: 'http://...' or 'https://...' (an HTTPScorer), 'file:PATH' (precomputed rewards: JSONL rows
            {prompt, response, reward[, std]} as `rewardlab score` writes them), 'py:module:function' (a
            CallableScorer), or anything else: a checkpoint folder, the 'minilm' alias or a hub id (a ModelScorer
            on cuda when available, else cpu), or an ensemble folder of `rewardlab train-ensemble` (an
            EnsembleScorer).
        **kwargs: options of the chosen scorer; others are ignored: protocol, api_key and batch_size for a
            server; token_budget, bf16, prefix_sharing and device for a model; none for file: and py:.

    Returns:
        Scorer: an HTTPScorer, a file scorer, a CallableScorer, a ModelScorer or an EnsembleScorer.

    Raises:
        RewardlabError: the py: function cannot be imported, the file is missing, unreadable or has a row without
            prompt, response and a numeric reward, nothing loadable is at the model path, or an unknown server protocol.

    Example:
        >>> from rewardlab import get_scorer
        >>> get_scorer("http://localhost:5000/get_reward", batch_size=16).batch_size
        16
        >>> get_scorer("py:no_such_module:reward")
        Traceback (most recent call last):
        rewardlab.errors.RewardlabError: cannot import scorer 'py:no_such_module:reward' (expected ...)...
        >>> get_scorer("runs/rm", device="cpu", bf16=False).name  # doctest: +SKIP
        'runs/rm'
        >>> get_scorer("file:scores.jsonl").name  # doctest: +SKIP
        'file:scores.jsonl'
    """
    if spec.startswith(("http://", "https://")):
        return HTTPScorer(spec, **{k: v for k, v in kwargs.items() if k in ("protocol", "api_key", "batch_size")})
    if spec.startswith("file:"):
        return FileScorer(spec[5:])
    if spec.startswith("py:"):
        import importlib

        try:
            mod, fn = spec[3:].rsplit(":", 1)
            return CallableScorer(getattr(importlib.import_module(mod), fn), name=spec)
        except (ValueError, ImportError, AttributeError) as e:
            raise RewardlabError(f"cannot import scorer {spec!r} (expected py:module:function): {e}") from None
    return load_scorer(spec, **{k: v for k, v in kwargs.items()
                                if k in ("token_budget", "bf16", "prefix_sharing", "device")})


def load_scorer(path: str, device: Any = "auto", **kwargs: Any) -> Any:
    """A ModelScorer for a checkpoint (folder, alias, hub id), an EnsembleScorer for an ensemble folder.

    Args:
        path: where the model is.
        device: where to put the model(s) ('auto': cuda when available).
        **kwargs: ModelScorer options (token_budget, bf16, prefix_sharing, max_batch), given to every member.

    Returns:
        ModelScorer | EnsembleScorer.

    Raises:
        RewardlabError: nothing loadable at `path` (or at a member's folder).

    Example:
        >>> from rewardlab.scoring import load_scorer
        >>> load_scorer("runs/diverse", device="cpu").head["n_members"]  # doctest: +SKIP
        4
    """
    from rewardlab.scoring.ensemble import EnsembleScorer, is_ensemble_folder

    if is_ensemble_folder(path):
        return EnsembleScorer.from_path(path, ModelScorer.from_path, device=device, **kwargs)
    return ModelScorer.from_path(path, device=device, **kwargs)
