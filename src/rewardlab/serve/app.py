"""The reward server: a FastAPI app over one reward model, batched across requests by `BatchingEngine`.

Routes (bearer auth on every inference route and /info when an api key is set):

- ``POST /v1/rewards`` {items: [{prompt, response} | {messages}], select?} -> {results: [{index, reward, std,
  members, pessimistic, n_tokens, truncated} | {index, error}], model, revision, render_spec_hash, select, usage}
- ``POST /get_reward`` (OpenRLHF) {query, prompts?, labels?} -> {rewards, scores, extra_logs}
- ``POST /classify`` (vLLM pooling, as verl's reward loop calls it) {model, input | messages, use_activation}
  -> {id, object, created, model, data: [{index, label, probs, num_classes, ...}], usage}
- ``POST /score`` {prompts, responses, select?} -> {rewards, std, members} (the 'rewardlab' protocol of HTTPScorer)
- ``GET /health``, ``GET /ready``, ``GET /info``, ``GET /metrics`` (Prometheus)

Bodies must be sent as JSON (`Content-Type: application/json`, else 415: a web page cannot post JSON to another
origin without a CORS preflight, which this server never grants) and are validated with pydantic; every error
names the field (`items[0].response: Field required`). JSON that is not strict (NaN, Infinity, integers beyond
Python's 4,300 digits), nested beyond `max_json_depth`, or holding a lone UTF-16 surrogate (not valid Unicode) is
refused with 422 before anything reaches the model. The Host header must name an allowed host (on loopback:
localhost, 127.0.0.1 or ::1), against DNS rebinding. Limits: body size (413), items per request (413), characters
per item (checked before tokenising) and tokens per item (that item's error; 422 when no item could be scored),
a queue bounded in requests and in tokens (503 + Retry-After), a per-request timeout (504). A model exception
fails only the items it belongs to (500 when none could be scored); the server keeps serving. A client that
disconnects has its waiting request dropped.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import math
import re
import time
import uuid
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rewardlab.errors import RewardlabError
from rewardlab.rules import parse_rule, pessimistic_scores
from rewardlab.serve.engine import (
    BatchingEngine,
    DrainingError,
    Item,
    ItemResult,
    ItemScorer,
    QueueFullError,
    split_queries,
)
from rewardlab.serve.metrics import ServerMetrics
from rewardlab.serve.spec import ServeSpec

logger = logging.getLogger(__name__)

INFERENCE_ROUTES = ("/v1/rewards", "/get_reward", "/classify", "/score")
DOC_ROUTES = ("/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json")
PROTECTED_ROUTES = (*INFERENCE_ROUTES, "/info", *DOC_ROUTES)
KNOWN_ROUTES = (*PROTECTED_ROUTES, "/health", "/ready", "/metrics")
MAX_ERRORS_SHOWN = 5
_SURROGATE = re.compile("[\ud800-\udfff]")


# ---------------------------------------------------------------------------------------------- request schemas


class Message(BaseModel):
    """One chat message; keys other than role and content are kept for the chat template."""

    model_config = ConfigDict(extra="allow")
    role: str
    content: str


def _text(value: str | list[Message]) -> Any:
    return value if isinstance(value, str) else [m.model_dump() for m in value]


def _split_messages(messages: list[Message]) -> tuple[Any, Any]:
    return [m.model_dump() for m in messages[:-1]], [messages[-1].model_dump()]


def _check_messages(messages: list[Message]) -> None:
    if len(messages) < 2 or messages[-1].role != "assistant":
        raise RewardlabError("messages must hold at least one prompt message and end with the assistant's response")


class RewardItemIn(BaseModel):
    """{prompt, response} (strings or message lists) or {messages} ending with the assistant's response."""

    model_config = ConfigDict(extra="forbid")
    prompt: str | list[Message] | None = None
    response: str | list[Message] | None = None
    messages: list[Message] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> RewardItemIn:
        if self.messages is not None:
            if self.prompt is not None or self.response is not None:
                raise RewardlabError("give either messages or prompt and response, not both")
            _check_messages(self.messages)
        elif self.prompt is None or self.response is None:
            raise RewardlabError("an item needs prompt and response (or messages)")
        return self

    def to_item(self) -> Item:
        if self.messages is not None:
            return Item(*_split_messages(self.messages))
        return Item(_text(self.prompt), _text(self.response))


class _Select(BaseModel):
    """An optional selection rule, checked by the one rule parser (`rewardlab.rules`)."""

    select: str | None = None

    @field_validator("select")
    @classmethod
    def _check_select(cls, value: str | None) -> str | None:
        return None if value is None else parse_rule(value).name


class RewardsRequest(_Select):
    model_config = ConfigDict(extra="forbid")
    items: list[RewardItemIn] = Field(min_length=1)


class GetRewardRequest(_Select):
    """OpenRLHF's body; unknown keys are ignored as its server ignores them."""

    model_config = ConfigDict(extra="ignore")
    query: list[str]
    prompts: list[str] | None = None
    labels: list[Any] | None = None


class ClassifyRequest(BaseModel):
    """vLLM's classification request (completion form `input` or chat form `messages`); other vLLM keys are
    accepted and ignored."""

    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    input: str | list[str] | None = None
    messages: list[Message] | None = None
    use_activation: bool | None = None
    activation: bool | None = None  # the older name of use_activation

    @model_validator(mode="after")
    def _one_form(self) -> ClassifyRequest:
        if (self.input is None) == (self.messages is None):
            raise RewardlabError("give exactly one of input and messages")
        if isinstance(self.input, list) and not self.input:
            raise RewardlabError("input must not be an empty list")
        if self.messages is not None:
            _check_messages(self.messages)
        return self


class ScoreRequest(_Select):
    model_config = ConfigDict(extra="forbid")
    prompts: list[str | list[Message]]
    responses: list[str | list[Message]]

    @model_validator(mode="after")
    def _same_length(self) -> ScoreRequest:
        if len(self.prompts) != len(self.responses):
            raise RewardlabError(f"{len(self.prompts)} prompts but {len(self.responses)} responses")
        return self


REQUEST_BODIES: dict[str, type[BaseModel]] = {"/v1/rewards": RewardsRequest, "/get_reward": GetRewardRequest,
                                               "/classify": ClassifyRequest, "/score": ScoreRequest}
_REF = "#/components/schemas/{model}"


def _body_doc(route: str) -> dict[str, Any]:
    """The OpenAPI requestBody of a route (bodies are parsed by `_parse`, so FastAPI cannot infer them)."""
    schema = REQUEST_BODIES[route].model_json_schema(ref_template=_REF)
    schema.pop("$defs", None)
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _with_body_schemas(app: FastAPI) -> None:
    """Make app.openapi() list the request bodies' nested models under components/schemas."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = base()
            found = doc.setdefault("components", {}).setdefault("schemas", {})
            for model in REQUEST_BODIES.values():
                for name, sub in model.model_json_schema(ref_template=_REF).get("$defs", {}).items():
                    found.setdefault(name, sub)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _where(loc: tuple[Any, ...]) -> str:
    """('body', 'items', 0, 'prompt', 'str') -> 'items[0].prompt' (union member tags dropped)."""
    parts: list[str] = []
    for p in loc:
        if p == "body" and not parts:
            continue
        if isinstance(p, int):
            parts.append(f"[{p}]")
        elif "[" in str(p) or str(p) in ("str", "int", "float", "bool", "list", "dict") or str(p).startswith(
                "function-"):
            continue
        else:
            parts.append(("." if parts else "") + str(p))
    return "".join(parts) or "body"


def _validation_message(errors: list[dict[str, Any]]) -> str:
    seen: list[str] = []
    for e in errors:
        msg = f"{_where(tuple(e.get('loc', ())))}: {e.get('msg', 'invalid')}"
        if msg not in seen:
            seen.append(msg)
    more = f" (and {len(seen) - MAX_ERRORS_SHOWN} more)" if len(seen) > MAX_ERRORS_SHOWN else ""
    return "; ".join(seen[:MAX_ERRORS_SHOWN]) + more


def _not_strict(name: str) -> Any:
    raise RewardlabError(f"{name} is not JSON")


def _path(parts: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(parts)) \
        or "body"


def check_json(obj: Any, max_depth: int) -> None:
    """Refuse parsed JSON nested deeper than `max_depth` or holding a lone UTF-16 surrogate (JSON's escapes can
    write one, Unicode text cannot hold it: tokenizers fail on it), naming where.

    Args:
        obj: the parsed body.
        max_depth: the deepest nesting allowed (the body object is depth 1).

    Raises:
        HTTPException: 422 naming the path.

    Example:
        >>> check_json({"items": [{"prompt": "ok"}]}, 8)
        >>> check_json({"items": [{"prompt": "ok" + chr(0xD800)}]}, 8)
        Traceback (most recent call last):
        fastapi.exceptions.HTTPException: 422: items[0].prompt: a lone UTF-16 surrogate (\\ud800 at character 2) ...
        >>> check_json({"a": [[[1]]]}, 3)
        Traceback (most recent call last):
        fastapi.exceptions.HTTPException: 422: a[0][0]: JSON nested deeper than max_json_depth 3
    """
    stack: list[tuple[Any, int, tuple[Any, ...]]] = [(obj, 1, ())]
    while stack:
        value, depth, where = stack.pop()
        if depth > max_depth:
            raise HTTPException(422, f"{_path(where)}: JSON nested deeper than max_json_depth {max_depth}")
        pairs = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in pairs:
            for text, at in ((key, where), (item, (*where, key))):
                if type(text) is str and (bad := _SURROGATE.search(text)) is not None:
                    raise HTTPException(422, f"{_path(at)}: a lone UTF-16 surrogate (\\u{ord(bad.group()):04x} at "
                                        f"character {bad.start()}) is not valid Unicode text; send UTF-8 text")
            if isinstance(item, dict | list):
                stack.append((item, depth + 1, (*where, key)))


async def _parse(request: Request, model: type[BaseModel], max_depth: int = 32) -> Any:
    body = await request.body()
    try:
        obj = json.loads(body, parse_constant=_not_strict)
    except RecursionError:
        raise HTTPException(422, f"body: JSON nested deeper than max_json_depth {max_depth}") from None
    except (ValueError, UnicodeDecodeError) as e:  # JSONDecodeError, NaN, 4,300+ digit integers, bad UTF-8
        raise HTTPException(422, f"body: invalid JSON ({str(e)[:200]})") from None
    if not isinstance(obj, dict):
        raise HTTPException(422, f"body: expected a JSON object, got {type(obj).__name__}")
    check_json(obj, max_depth)
    try:
        return model.model_validate(obj)
    except ValidationError as e:
        errors = e.errors(include_url=False, include_context=False, include_input=False)
        raise HTTPException(422, _validation_message(errors)) from None


# ---------------------------------------------------------------------------------------------- ASGI guard


def _host_name(value: bytes) -> str:
    """b'localhost:8600' -> 'localhost'; b'[::1]:8600' -> '::1'."""
    host = value.decode("latin-1").strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _is_json(value: bytes) -> bool:
    media = value.decode("latin-1").partition(";")[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class Guard:
    """Pure ASGI middleware in front of every route: the Host header (400 unless an allowed host: DNS
    rebinding), bearer auth (401) on protected routes, then for bodies a JSON content type (415: no cross-origin
    form post without a CORS preflight) and the body-size limit (413, from Content-Length or while reading),
    then request metrics (latency, status, in flight)."""

    def __init__(self, app: Any, api_key: str | None, max_body_bytes: int, metrics: ServerMetrics,
                 allowed_hosts: frozenset[str] | None = None):
        self.app = app
        self.api_key = api_key.encode() if api_key else None
        self.max_body = max_body_bytes
        self.metrics = metrics
        self.allowed_hosts = allowed_hosts

    def _host_allowed(self, scope: dict[str, Any]) -> bool:
        if self.allowed_hosts is None:
            return True
        for name, value in scope.get("headers", []):
            if name == b"host":
                return _host_name(value) in self.allowed_hosts
        return False

    @staticmethod
    async def _reply(send: Any, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        body = json.dumps({"detail": detail}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                *(headers or [])]})
        await send({"type": "http.response.body", "body": body})

    def _authorized(self, scope: dict[str, Any]) -> bool:
        if self.api_key is None:
            return True
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, token = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.api_key)
        return False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        route = path if path in KNOWN_ROUTES else "other"
        status = {"code": 500}
        t0 = time.perf_counter()
        inference = path in INFERENCE_ROUTES

        async def send_status(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        if inference:
            self.metrics.in_flight.inc()
        try:
            await self._guarded(scope, receive, send_status, path)
        finally:
            if inference:
                self.metrics.in_flight.dec()
            self.metrics.requests.labels(route=route, status=str(status["code"])).inc()
            if route != "other":
                self.metrics.latency.labels(route=route).observe(time.perf_counter() - t0)

    async def _guarded(self, scope: dict[str, Any], receive: Any, send: Any, path: str) -> None:
        if not self._host_allowed(scope):
            self.metrics.rejected.labels(reason="host").inc()
            await self._reply(send, 400, "the Host header names a host this server does not answer (allowed: "
                              f"{', '.join(sorted(self.allowed_hosts or ()))}; see --allowed-hosts)")
            return
        if path in PROTECTED_ROUTES and not self._authorized(scope):
            self.metrics.rejected.labels(reason="auth").inc()
            await self._reply(send, 401, "missing or wrong api key: send the header 'Authorization: Bearer <key>'",
                              [(b"www-authenticate", b"Bearer")])
            return
        if scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        if not any(name == b"content-type" and _is_json(value) for name, value in scope.get("headers", [])):
            self.metrics.rejected.labels(reason="content_type").inc()
            await self._reply(send, 415, "send the body as JSON with the header 'Content-Type: application/json'")
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_body:
                self.metrics.rejected.labels(reason="body_size").inc()
                await self._reply(send, 413, f"request body is {int(value)} bytes > max_body_bytes {self.max_body}")
                return
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_body:
                self.metrics.rejected.labels(reason="body_size").inc()
                await self._reply(send, 413, f"request body is more than max_body_bytes {self.max_body} bytes")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()  # after the body: blocks until the client disconnects

        await self.app(scope, replay, send)


# ---------------------------------------------------------------------------------------------- the app


class ServerState:
    """What the routes share: the spec, the scorer, the engine, the metrics and the model's identity."""

    def __init__(self, scorer: ItemScorer, spec: ServeSpec, metrics: ServerMetrics):
        self.spec = spec
        self.scorer = scorer
        self.metrics = metrics
        self.engine = BatchingEngine(scorer, spec.max_batch_tokens, spec.max_wait_ms, spec.max_queue, metrics,
                                     max_queue_tokens=spec.max_queue_tokens)
        self.max_chars = spec.resolved_max_chars()
        self.revision: str | None = None
        self.render_hash: str | None = None
        self.render_spec: dict[str, Any] | None = None
        self.device: str | None = None
        if scorer.model_scorer is not None:
            from rewardlab.serve.identity import model_revision, render_spec_hash

            loaded = scorer.model_scorer.loaded
            self.revision = model_revision(loaded)
            self.render_hash = render_spec_hash(loaded.renderer.spec, loaded.tokenizer)
            self.render_spec = loaded.renderer.spec.to_dict()
            self.device = str(scorer.model_scorer.device)
        elif scorer.ensemble is not None:  # an ensemble folder: one revision and render hash over its members
            import hashlib

            from rewardlab.serve.identity import model_revision, render_spec_hash

            loaded = [m.model_scorer.loaded for m in scorer.member_scorers]
            revs = [model_revision(x) for x in loaded]
            hashes = [render_spec_hash(x.renderer.spec, x.tokenizer) for x in loaded]
            self.revision = "ensemble:" + hashlib.sha256("|".join(revs).encode()).hexdigest()[:16]
            self.render_hash = hashlib.sha256("|".join(hashes).encode()).hexdigest()[:16]
            self.render_spec = {"members": [x.renderer.spec.to_dict() for x in loaded]}
            self.device = str(scorer.member_scorers[0].model_scorer.device)

    def check_count(self, n: int, field: str) -> None:
        """413 when a request holds more than max_items items (`field` names them)."""
        if n > self.spec.max_items:
            self.metrics.rejected.labels(reason="too_many_items").inc()
            raise HTTPException(413, f"{field}: {n} items > max_items {self.spec.max_items}; split the request")

    def identity(self) -> dict[str, Any]:
        """The served model's name, revision and render-spec hash, as every answer that names the model gives them."""
        return {"model": self.scorer.name, "revision": self.revision, "render_spec_hash": self.render_hash}

    def rule_for(self, select: str | None) -> str:
        """The selection rule of a request: its `select`, else the server's; checked against the model
        (`check_rule`)."""
        rule = select or self.spec.select
        self.check_rule(rule)
        return rule

    def check_rule(self, rule: str) -> None:
        """422 when the model cannot give what the rule needs (known for model scorers before any work)."""
        r = parse_rule(rule)
        s = self.scorer
        if r.needs == "members" and s.has_members is False:
            raise HTTPException(422, f"select: rule '{r}' needs ensemble members; this model's head is "
                                f"{s.head['head']} (serve an ensemble, or use mean)")
        if r.needs == "std or members" and s.has_std is False:
            raise HTTPException(422, f"select: rule '{r}' needs a std; this model's head is {s.head['head']} "
                                "(serve a gaussian or ensemble head, or use mean)")

    async def run(self, request: Request, items: list[Item]) -> list[ItemResult]:
        """Refuse over-long items (characters, before any tokenising), queue the others, wait for their results
        (timeout, disconnect and overload handled)."""
        out: list[ItemResult | None] = [None] * len(items)
        for i, it in enumerate(items):
            n = it.n_chars()
            if n > self.max_chars:
                self.metrics.rejected.labels(reason="item_chars").inc()
                out[i] = ItemResult(error=f"{n} characters > max_chars_per_item {self.max_chars}", error_kind="input")
        todo = [i for i, r in enumerate(out) if r is None]
        if todo:
            for i, r in zip(todo, await self._wait(request, [items[i] for i in todo]), strict=True):
                out[i] = r
        return [r for r in out if r is not None]

    async def _wait(self, request: Request, items: list[Item]) -> list[ItemResult]:
        engine = self.engine
        try:
            job = engine.submit(items)
        except (QueueFullError, DrainingError) as e:
            reason = "queue_full" if isinstance(e, QueueFullError) else "draining"
            self.metrics.rejected.labels(reason=reason).inc()
            raise HTTPException(503, f"{e}; retry later", headers={"Retry-After": str(engine.retry_after())}) from None
        watcher: asyncio.Future | None = asyncio.ensure_future(request.receive())  # ends when the client leaves
        deadline = time.monotonic() + self.spec.timeout_s
        try:
            while True:
                waiting = {job.future} if watcher is None else {job.future, watcher}
                done, _ = await asyncio.wait(waiting, timeout=max(0.0, deadline - time.monotonic()),
                                             return_when=asyncio.FIRST_COMPLETED)
                if job.future in done:
                    try:
                        return job.future.result()
                    except DrainingError as e:
                        raise HTTPException(503, str(e), headers={"Retry-After": "5"}) from None
                    except Exception as e:  # logged by the worker; this request alone fails
                        raise HTTPException(500, f"model error: {type(e).__name__}: {e}") from None
                if watcher is not None and watcher in done:
                    if watcher.result().get("type") == "http.disconnect":
                        job.cancelled = True
                        self.metrics.rejected.labels(reason="client_gone").inc()
                        raise _ClientGone()
                    watcher = None  # anything else (a pipelined request): stop watching, keep waiting
                    continue
                break
            job.cancelled = True
            self.metrics.rejected.labels(reason="timeout").inc()
            raise HTTPException(504, f"no rewards within timeout_s {self.spec.timeout_s:g} s (the model is busy); "
                                "retry later")
        finally:
            if watcher is not None:
                watcher.cancel()
            if not job.future.done():
                job.future.cancel()


class _ClientGone(Exception):
    """The client disconnected while its request waited: nothing is sent."""


def _fail_whole(results: list[ItemResult], name: str) -> None:
    """Raise 500 (a model error) or 422 (input errors) naming the failed items, when any item failed."""
    bad = [(i, r) for i, r in enumerate(results) if not r.ok]
    if not bad:
        return
    status = 500 if any(r.error_kind == "model" for _, r in bad) else 422
    shown = "; ".join(f"{name}[{i}]: {r.error}" for i, r in bad[:MAX_ERRORS_SHOWN])
    more = f" (and {len(bad) - MAX_ERRORS_SHOWN} more)" if len(bad) > MAX_ERRORS_SHOWN else ""
    raise HTTPException(status, shown + more)


def _pessimistic(rule: str, results: list[ItemResult]) -> list[float | None]:
    """The rule's score of every successful item (None for failed ones), by the one pessimism function."""
    ok = [i for i, r in enumerate(results) if r.ok]
    out: list[float | None] = [None] * len(results)
    if not ok:
        return out
    mean = np.array([results[i].reward for i in ok], dtype=float)
    std = None if any(results[i].std is None for i in ok) else np.array([results[i].std for i in ok])
    members = None
    if all(results[i].members is not None for i in ok) and len({len(results[i].members) for i in ok}) == 1:
        members = np.array([results[i].members for i in ok])
    try:
        scores = pessimistic_scores(rule, mean, std=std, members=members)
    except ValueError as e:
        raise HTTPException(422, f"select: {e}") from None
    bad = np.flatnonzero(~np.isfinite(scores))
    if bad.size:
        raise HTTPException(422, f"select: rule '{rule}' gives a non-finite score ({scores[bad[0]]}) for item "
                            f"{ok[int(bad[0])]}; its parameter is too large for these rewards")
    for j, i in enumerate(ok):
        out[i] = float(scores[j])
    return out


def _sigmoid(x: float) -> float:
    """The logistic function, without overflow for large |x| (vLLM's activation of a one-label classifier)."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


# ---------------------------------------------------------------------------------------------- the routes
# Each inference route is a handler `(state, request) -> answer`; `_endpoint` makes it a FastAPI endpoint that keeps
# its name (less the underscore) and docstring: the operation id, summary and description /docs shows.


async def _rewards(state: ServerState, request: Request) -> dict[str, Any]:
    """Rewards of {prompt, response} or {messages} items, with std, members and a pessimistic score."""
    body = await _parse(request, RewardsRequest, state.spec.max_json_depth)
    state.check_count(len(body.items), "items")
    rule = state.rule_for(body.select)
    results = await state.run(request, [it.to_item() for it in body.items])
    if not any(r.ok for r in results):
        _fail_whole(results, "items")
    pess = _pessimistic(rule, results)
    out = []
    for i, (r, p) in enumerate(zip(results, pess, strict=True)):
        if r.ok:
            out.append({"index": i, "reward": r.reward, "std": r.std, "members": r.members, "pessimistic": p,
                        "n_tokens": r.n_tokens, "truncated": r.truncated})
        else:
            out.append({"index": i, "error": r.error, "error_kind": r.error_kind, "n_tokens": r.n_tokens})
    n_tok = sum(r.n_tokens or 0 for r in results)
    return {**state.identity(), "select": rule, "results": out, "usage": {"n_items": len(out), "n_tokens": n_tok}}


async def _get_reward(state: ServerState, request: Request) -> dict[str, Any]:
    """OpenRLHF's remote reward: query = prompt + response text, the prompt in the policy's chat template. A
    query in a known chat template (`policy_template`) is parsed back into messages and rendered by the
    model's RenderSpec; else, with `prompts` (each a prefix of its query), the response is split off and both
    are rendered by the model's RenderSpec; otherwise a query is taken as already-rendered text."""
    spec = state.spec
    body = await _parse(request, GetRewardRequest, spec.max_json_depth)
    n = len(body.query)
    if body.prompts is not None and len(body.prompts) != n:
        raise HTTPException(422, f"prompts: {len(body.prompts)} prompts for {n} queries")
    state.check_count(n, "query")
    rule = state.rule_for(body.select)
    if n == 0:
        return {"rewards": [], "scores": [], "extra_logs": {}}
    results = await state.run(request, split_queries(body.query, body.prompts, state.scorer.tokenizer,
                                                      spec.policy_template))
    _fail_whole(results, "query")
    rewards = _pessimistic(rule, results)
    extra: dict[str, Any] = {"reward_mean": [r.reward for r in results]}
    if all(r.std is not None for r in results):
        extra["reward_std"] = [r.std for r in results]
    return {"rewards": rewards, "scores": rewards, "extra_logs": extra}


async def _classify(state: ServerState, request: Request) -> dict[str, Any]:
    """vLLM-compatible classification: `input` strings are taken as rendered text (verl renders with the
    reward model's chat template), `messages` are rendered by the model's RenderSpec. probs = [reward]
    (the server's selection rule), through a sigmoid unless use_activation is false."""
    body = await _parse(request, ClassifyRequest, state.spec.max_json_depth)
    if body.messages is not None:
        items = [Item(*_split_messages(body.messages))]
    else:
        texts = [body.input] if isinstance(body.input, str) else list(body.input or [])
        state.check_count(len(texts), "input")
        items = [Item(text=t) for t in texts]
    rule = state.rule_for(None)
    results = await state.run(request, items)
    _fail_whole(results, "input")
    values = _pessimistic(rule, results)
    activate = body.use_activation if body.use_activation is not None else (
        body.activation if body.activation is not None else True)
    data = []
    for i, (r, v) in enumerate(zip(results, values, strict=True)):
        prob = _sigmoid(v) if activate else v
        data.append({"index": i, "label": "LABEL_0", "probs": [prob], "num_classes": 1, "reward": r.reward,
                     "std": r.std})
    n_tok = sum(r.n_tokens or 0 for r in results)
    return {"id": f"classify-{uuid.uuid4().hex}", "object": "list", "created": int(time.time()),
            "model": body.model or state.scorer.name, "data": data,
            "usage": {"prompt_tokens": n_tok, "total_tokens": n_tok, "completion_tokens": 0,
                      "prompt_tokens_details": None}}


async def _score(state: ServerState, request: Request) -> dict[str, Any]:
    """{prompts, responses} -> {rewards, std, members}: the 'rewardlab' protocol of HTTPScorer."""
    body = await _parse(request, ScoreRequest, state.spec.max_json_depth)
    state.check_count(len(body.prompts), "prompts")
    rule = state.rule_for(body.select)
    if not body.prompts:
        return {"rewards": [], "std": None, "members": None, **state.identity()}
    items = [Item(_text(p), _text(r)) for p, r in zip(body.prompts, body.responses, strict=True)]
    results = await state.run(request, items)
    _fail_whole(results, "prompts")
    std = [r.std for r in results] if all(r.std is not None for r in results) else None
    members = [r.members for r in results] if all(r.members is not None for r in results) else None
    return {"rewards": _pessimistic(rule, results), "mean": [r.reward for r in results], "std": std,
            "members": members, **state.identity()}


_HANDLERS = {"/v1/rewards": _rewards, "/get_reward": _get_reward, "/classify": _classify, "/score": _score}


def _endpoint(state: ServerState, handler: Any) -> Any:
    """The FastAPI endpoint `(request) -> handler(state, request)`, named and documented as the handler (less its
    leading underscore)."""

    async def endpoint(request: Request) -> dict[str, Any]:
        return await handler(state, request)

    endpoint.__name__ = endpoint.__qualname__ = handler.__name__.lstrip("_")
    endpoint.__doc__ = handler.__doc__
    return endpoint


def _add_status_routes(app: FastAPI, state: ServerState, api_key: str | None) -> None:
    """GET /health, /ready and /info; then the OpenAPI document's body schemas and GET /metrics."""
    spec, scorer, metrics = state.spec, state.scorer, state.metrics

    @app.get("/health")
    async def health() -> dict[str, str]:
        """Liveness: 200 while the process serves HTTP."""
        return {"status": "ok"}

    @app.get("/ready")
    async def ready() -> Response:
        """Readiness: 200 when the model worker runs and the server is not shutting down, else 503."""
        engine = state.engine
        if engine.draining or not engine.running:
            why = "shutting down" if engine.draining else "model worker not running"
            return JSONResponse({"status": why}, status_code=503, headers={"Retry-After": "5"})
        return JSONResponse({"status": "ready", "queue": engine.queue.qsize()})

    @app.get("/info")
    async def info() -> dict[str, Any]:
        """The model (name, revision, head, device), its render spec and hash, the limits and the routes."""
        from rewardlab.version import __version__

        limits = {k: getattr(spec, k) for k in ("max_batch_tokens", "max_wait_ms", "max_queue", "max_items",
                                                "max_tokens_per_item", "max_body_bytes", "timeout_s")}
        return {**state.identity(), "head": scorer.head, "render_spec": state.render_spec, "device": state.device,
                "select": spec.select, "limits": limits, "auth": api_key is not None,
                "routes": [*INFERENCE_ROUTES, "/health", "/ready", "/info", "/metrics"],
                "rewardlab_version": __version__}

    _with_body_schemas(app)

    @app.get("/metrics")
    async def metrics_route() -> Response:
        """Prometheus metrics of this server."""
        from prometheus_client import CONTENT_TYPE_LATEST

        metrics.queue_depth.set(state.engine.queue.qsize())
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)


async def _client_gone(request: Request, exc: _ClientGone) -> Response:
    """The client left while its request waited: 499, which nobody receives."""
    return Response(status_code=499)


async def _rewardlab_error(request: Request, exc: RewardlabError) -> JSONResponse:
    """A RewardlabError no route turned into an HTTP error: 500 with its message."""
    return JSONResponse({"detail": str(exc)}, status_code=500)


def _item_scorer(scorer_or_loaded: Any, spec: ServeSpec) -> ItemScorer:
    """The ItemScorer to serve: a checkpoint or ensemble folder is loaded onto `spec.device`; an ItemScorer is kept;
    anything else
    is wrapped with the spec's token budget, per-item token limit and bf16 setting."""
    if isinstance(scorer_or_loaded, str):
        from rewardlab.scoring.base import load_scorer

        scorer_or_loaded = load_scorer(scorer_or_loaded, device=spec.device, token_budget=spec.max_batch_tokens,
                                       bf16=spec.bf16)
    return scorer_or_loaded if isinstance(scorer_or_loaded, ItemScorer) else ItemScorer(
        scorer_or_loaded, token_budget=spec.max_batch_tokens, max_tokens_per_item=spec.max_tokens_per_item,
        bf16=spec.bf16)


def _lifespan(state: ServerState) -> Any:
    """The app's lifespan: start the model worker (and log what is served), and on shutdown stop it, letting
    queued requests finish within timeout_s."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        state.engine.start()
        logger.info("serving %s (revision %s, render spec %s)", state.scorer.name, state.revision, state.render_hash)
        yield
        await state.engine.stop(timeout=state.spec.timeout_s)

    return lifespan


def create_app(scorer_or_loaded: Any, spec: ServeSpec | None = None) -> FastAPI:
    """The reward server's FastAPI app (run it with uvicorn, `run_server`, or `BackgroundServer` in tests).

    Args:
        scorer_or_loaded: a ModelScorer, a LoadedModel (`rewardlab.load(...)`), a checkpoint path (loaded onto
            `spec.device`), an ItemScorer, or any Scorer (served as it is; no token counts then).
        spec: the server settings (limits, batching, api key, default selection rule); default ServeSpec().
            The api key falls back to the REWARDLAB_API_KEY environment variable.

    Returns:
        FastAPI: the app; `app.state.server` holds the engine, metrics and the model's identity.

    Raises:
        RewardlabError: the model cannot be loaded or served.

    Example:
        >>> from rewardlab.scoring import CallableScorer
        >>> from rewardlab.serve import ServeSpec, create_app
        >>> app = create_app(CallableScorer(lambda prompt, response: len(response)), ServeSpec(max_queue=8))
        >>> sorted(r.path for r in app.routes if r.path.startswith(("/v1", "/get", "/class")))
        ['/classify', '/get_reward', '/v1/rewards']
    """
    spec = spec or ServeSpec()
    scorer = _item_scorer(scorer_or_loaded, spec)
    metrics = ServerMetrics()
    state = ServerState(scorer, spec, metrics)
    api_key = spec.resolved_api_key()
    app = FastAPI(title="rewardlab reward server", lifespan=_lifespan(state))
    app.state.server = state
    app.add_middleware(Guard, api_key=api_key, max_body_bytes=spec.max_body_bytes, metrics=metrics,
                       allowed_hosts=spec.resolved_allowed_hosts())
    app.add_exception_handler(_ClientGone, _client_gone)  # type: ignore[arg-type]
    app.add_exception_handler(RewardlabError, _rewardlab_error)  # type: ignore[arg-type]
    for route, handler in _HANDLERS.items():
        app.post(route, openapi_extra=_body_doc(route))(_endpoint(state, handler))
    _add_status_routes(app, state, api_key)
    return app


__all__ = ["INFERENCE_ROUTES", "Guard", "ServerState", "create_app"]
