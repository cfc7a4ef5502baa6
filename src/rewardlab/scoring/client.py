"""Clients of the reward server (httpx): `RewardClient` (sync) and `AsyncRewardClient` (asyncio), also exported by
`rewardlab.serve`. They live in scoring, below serve, because `HTTPScorer` sends through them.

Both send items in batches to POST /v1/rewards, spread them over several replicas by least outstanding requests,
and retry with exponential backoff (and jitter) on connection errors, timeouts, 5xx and 429, honouring the
server's Retry-After on 503 / 429; a retry goes to another replica when there is one. Other 4xx answers are the
caller's mistake and raise at once, with the server's message. Both are Scorers (`name`, `score(prompts,
responses)`), so anything in rewardlab that takes a Scorer can score through a server.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from rewardlab.data.schema import Text
from rewardlab.errors import RewardlabError

if TYPE_CHECKING:
    from rewardlab.scoring.output import RewardOutput

logger = logging.getLogger(__name__)

ROUTE = "/v1/rewards"
KNOWN_SUFFIXES = ("/v1/rewards", "/get_reward", "/classify", "/score")
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def _httpx() -> Any:
    """httpx, or a clear error naming the extra that brings it (a base install lacks it)."""
    try:
        import httpx
    except ImportError:
        raise RewardlabError("talking to a reward server needs httpx: pip install 'rewardlab[serve]'") from None
    return httpx


def split_route(url: str) -> tuple[str, str]:
    """(base URL, route) of a server URL: a known route at its end (/v1/rewards, /get_reward, /classify, /score)
    is split off; any other URL is its own base with an empty route.

    Example:
        >>> split_route("http://10.0.0.5:8600/get_reward/")
        ('http://10.0.0.5:8600', '/get_reward')
        >>> split_route("http://rm.internal/custom")
        ('http://rm.internal/custom', '')
    """
    url = url.strip().rstrip("/")
    for s in KNOWN_SUFFIXES:
        if url.endswith(s):
            return url[: -len(s)], s
    return url, ""


class _Replicas:
    """Replica URLs and their outstanding requests; `acquire` picks the least loaded (ties round-robin)."""

    def __init__(self, urls: str | Sequence[str]):
        urls = [urls] if isinstance(urls, str) else list(urls)
        urls = [u for part in urls for u in part.split(",") if u.strip()]
        if not urls:
            raise RewardlabError("RewardClient needs at least one server URL")
        self.urls = [split_route(u)[0] for u in urls]
        self.outstanding = [0] * len(self.urls)
        self._lock = threading.Lock()
        self._turn = itertools.count()

    def acquire(self, avoid: int | None = None) -> int:
        with self._lock:
            pool = [i for i in range(len(self.urls)) if i != avoid] or list(range(len(self.urls)))
            low = min(self.outstanding[i] for i in pool)
            ties = [i for i in pool if self.outstanding[i] == low]
            i = ties[next(self._turn) % len(ties)]
            self.outstanding[i] += 1
            return i

    def release(self, i: int) -> None:
        with self._lock:
            self.outstanding[i] -= 1


def _retry_after(response: Any) -> float | None:
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _detail(response: Any) -> str:
    try:
        body = response.json()
        return str(body.get("detail", body)) if isinstance(body, dict) else str(body)
    except Exception:
        return response.text[:300]


def _retryable(url: str, response: Any) -> str:
    """Why an error answer is worth retrying (5xx, 503, 429); any other error status raises at once."""
    if response.status_code not in RETRY_STATUSES:
        raise RewardlabError(f"{url}: HTTP {response.status_code}: {_detail(response)}")
    return f"HTTP {response.status_code}: {_detail(response)}"


def _answer(url: str, response: Any) -> tuple[dict[str, Any] | None, str | None]:
    """(JSON body, None) of a good answer, or (None, why it is worth retrying): a retryable status (see
    `_retryable`) or a 2xx body that is not JSON (a proxy's page, a cut-off body). Other errors raise at once."""
    if response.status_code >= 400:
        return None, _retryable(url, response)
    try:
        return response.json(), None
    except ValueError:
        return None, f"HTTP {response.status_code} but not JSON: {response.text[:200]!r}"


def _item(p: Text, r: Text) -> dict[str, Any]:
    return {"prompt": p, "response": r}


def _output(results: list[dict[str, Any]], where: str) -> RewardOutput:
    from rewardlab.scoring.output import (
        RewardOutput,  # (importing rewardlab.scoring loads torch: only when needed)
    )

    bad = [r for r in results if "error" in r]
    if bad:
        shown = "; ".join(f"item {r['index']}: {r['error']}" for r in bad[:5])
        raise RewardlabError(f"{where}: {len(bad)} of {len(results)} items failed: {shown}")
    mean = np.array([r["reward"] for r in results], dtype=float)
    std = None if any(r.get("std") is None for r in results) or not results else np.array(
        [r["std"] for r in results], dtype=float)
    mem = None
    if results and all(r.get("members") is not None for r in results) and len(
            {len(r["members"]) for r in results}) == 1:
        mem = np.array([r["members"] for r in results], dtype=float)
    return RewardOutput(mean, std, mem)


class _Core(ABC):
    """Settings and decisions shared by the sync and async clients."""

    def __init__(self, urls: str | Sequence[str], api_key: str | None, batch_size: int, timeout: float,
                 retries: int, backoff: float, max_backoff: float, max_concurrency: int, name: str | None,
                 transport: Any):
        httpx = _httpx()
        if batch_size < 1 or retries < 0 or max_concurrency < 1:
            raise RewardlabError("batch_size and max_concurrency must be >= 1 and retries >= 0")
        self.replicas = _Replicas(urls)
        self.api_key = api_key
        self.batch_size = batch_size
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_concurrency = max_concurrency
        self.name = name or ",".join(self.replicas.urls)
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # certificates are checked for https replicas; plain-http ones skip building a TLS context (~0.1 s)
        self.tls = any(u.startswith("https://") for u in self.replicas.urls)
        self._http = self._connect(httpx, transport)

    @abstractmethod
    def _connect(self, httpx: Any, transport: Any) -> Any:
        """The httpx client (sync or async, by subclass) with these headers, TLS setting and connection limit."""

    def _delay(self, attempt: int, response: Any = None) -> float:
        ra = _retry_after(response) if response is not None and response.status_code in (429, 503) else None
        if ra is not None:
            return min(ra, self.max_backoff) * (1.0 + 0.1 * random.random())
        base = min(self.backoff * 2**attempt, self.max_backoff)
        return base * (0.5 + 0.5 * random.random())

    def _chunks(self, items: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        return [items[i : i + self.batch_size] for i in range(0, len(items), self.batch_size)]

    @staticmethod
    def _payload(items: list[dict[str, Any]], select: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"items": items}
        if select:
            body["select"] = select
        return body

    def _settle(self, i: int, url: str, response: Any, error: Exception | None,
                attempt: int) -> tuple[dict[str, Any] | None, str | None, int | None, float | None]:
        """The outcome of one attempt, shared by the sync and async loops: (JSON answer or None, why it failed,
        the replica to avoid next, seconds to wait before the next attempt or None after the last one)."""
        if error is not None:  # connection refused/reset, timeouts
            last: str | None = f"{type(error).__name__}: {error}"
        else:
            answer, last = _answer(url, response)
            if answer is not None:
                return answer, None, None, None
        avoid = i if len(self.replicas.urls) > 1 else None
        if attempt >= self.retries:
            return None, last, avoid, None
        delay = self._delay(attempt, response)
        logger.debug("%s failed (%s); retry %d in %.2f s", url, last, attempt + 1, delay)
        return None, last, avoid, delay

    def _give_up(self, url: str, last: Any) -> RewardlabError:
        return RewardlabError(f"{url}: no answer after {self.retries + 1} attempts: {last}")

    def _merge(self, chunks: list[list[dict[str, Any]]], answers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The per-item results of every batch's answer, in order, each `index` its position in the whole call."""
        out: list[dict[str, Any]] = []
        for c, a in zip(chunks, answers, strict=True):
            res = a.get("results")
            if not isinstance(res, list) or len(res) != len(c):
                raise RewardlabError(f"{self.name}: expected {len(c)} results, got {str(a)[:200]}")
            for r in res:
                out.append({**r, "index": len(out)})
        return out

    @staticmethod
    def _items(prompts: Sequence[Text], responses: Sequence[Text]) -> list[dict[str, Any]]:
        """The /v1/rewards items of a Scorer call (checked: as many prompts as responses)."""
        if len(prompts) != len(responses):
            raise RewardlabError(f"{len(prompts)} prompts but {len(responses)} responses")
        return [_item(p, r) for p, r in zip(prompts, responses, strict=True)]

    def _info(self, i: int, response: Any) -> dict[str, Any]:
        """The JSON of replica i's GET /info answer; an HTTP error raises with the server's message."""
        if response.status_code >= 400:
            raise RewardlabError(f"{self.replicas.urls[i]}/info: HTTP {response.status_code}: {_detail(response)}")
        return response.json()


class _Attempts:
    """The retry loop of one request, shared by the sync and async clients (they differ only in how they post and
    sleep). Each attempt: `next_url()` takes the least busy replica (another than the one that just failed, when
    there is one) and gives the URL to post to, or None when the request is answered or out of attempts; after the
    post, `release()` frees the replica and `settle(response, error)` gives the seconds to wait before the next
    attempt (None: answered, or that was the last one); at the end `result()` is the JSON answer or raises."""

    def __init__(self, core: _Core, path: str) -> None:
        self.core = core
        self.path = path
        self.attempt = -1
        self.replica = -1
        self.url = ""
        self.avoid: int | None = None
        self.answer: dict[str, Any] | None = None
        self.last: Any = None

    def next_url(self) -> str | None:
        """The URL of the next attempt (its replica now busy), or None when answered or out of attempts."""
        if self.answer is not None or self.attempt >= self.core.retries:
            return None
        self.attempt += 1
        self.replica = self.core.replicas.acquire(self.avoid)
        self.url = self.core.replicas.urls[self.replica] + self.path
        return self.url

    def release(self) -> None:
        """Free the replica of the attempt that just ended (answered or not)."""
        self.core.replicas.release(self.replica)

    def settle(self, response: Any, error: Exception | None) -> float | None:
        """Record the attempt's outcome; the seconds to wait before the next attempt, or None."""
        self.answer, self.last, self.avoid, delay = self.core._settle(self.replica, self.url, response, error,
                                                                       self.attempt)
        return delay

    def result(self) -> dict[str, Any]:
        """The JSON answer; raises the give-up error when every attempt failed."""
        if self.answer is None:
            raise self.core._give_up(self.core.name, self.last)
        return self.answer


class RewardClient(_Core):
    """A synchronous client of one or more reward-server replicas; also a Scorer.

    Args:
        urls: the server's base URL ('http://host:8600'), several (a list or 'url1,url2'); a URL ending in a
            route (/v1/rewards, /get_reward, /classify, /score) is cut back to its base.
        api_key: sent as 'Authorization: Bearer <api_key>'.
        batch_size: items per request.
        timeout: seconds to wait for one answer.
        retries: further attempts after a connection error, a timeout, a 5xx or a 429.
        backoff: first retry delay in seconds (doubling, with jitter, capped at `max_backoff`); a 503 / 429 waits
            the server's Retry-After instead (also capped).
        max_backoff: the longest wait between attempts.
        max_concurrency: requests in flight at once when a call needs several.
        name: the scorer's name in reports (default: the URLs).
        transport: an httpx transport to send through (e.g. httpx.MockTransport in tests); default: the network.

    Example:
        >>> from rewardlab.serve import RewardClient
        >>> client = RewardClient(["http://10.0.0.5:8600", "http://10.0.0.6:8600/v1/rewards"], api_key="k")
        >>> client.replicas.urls
        ['http://10.0.0.5:8600', 'http://10.0.0.6:8600']
        >>> client.score(["What is 2+2?"], ["4"]).mean  # doctest: +SKIP
        array([1.43])
        >>> client.rewards([{"prompt": "2+2?", "response": "4"}], select="lcb:1")[0]["pessimistic"]  # doctest: +SKIP
        1.21
    """

    def __init__(self, urls: str | Sequence[str], api_key: str | None = None, *, batch_size: int = 64,
                 timeout: float = 180.0, retries: int = 5, backoff: float = 0.2, max_backoff: float = 10.0,
                 max_concurrency: int = 4, name: str | None = None, transport: Any = None):
        super().__init__(urls, api_key, batch_size, timeout, retries, backoff, max_backoff, max_concurrency, name,
                         transport)
        self._pool: ThreadPoolExecutor | None = None

    def _connect(self, httpx: Any, transport: Any) -> Any:
        return httpx.Client(timeout=self.timeout, headers=self.headers, transport=transport, verify=self.tls,
                            limits=httpx.Limits(max_connections=max(8, 2 * self.max_concurrency)))

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST `body` with the retries of `_Attempts`, sleeping between attempts."""
        import httpx

        tries = _Attempts(self, path)
        while (url := tries.next_url()) is not None:
            response, error = None, None
            try:
                response = self._http.post(url, json=body)
            except httpx.TransportError as e:
                error = e
            finally:
                tries.release()
            if (delay := tries.settle(response, error)) is not None:
                time.sleep(delay)
        return tries.result()

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a JSON body to `path` (e.g. '/get_reward') of the least busy replica, with the retries.

        Raises:
            RewardlabError: a client error (4xx other than 429), or no answer after the retries.
        """
        return self._post(path, body)

    def rewards(self, items: Sequence[dict[str, Any]], select: str | None = None) -> list[dict[str, Any]]:
        """Per-item results of POST /v1/rewards, in order, batched and retried.

        Args:
            items: dicts {prompt, response} or {messages}.
            select: a selection rule for the `pessimistic` field (default: the server's).

        Returns:
            list[dict]: {index, reward, std, members, pessimistic, n_tokens, truncated} or {index, error} per
            item, `index` being the position in `items`.

        Raises:
            RewardlabError: a client error (4xx other than 429), or no answer after the retries.
        """
        items = list(items)
        chunks = self._chunks(items)
        if len(chunks) > 1 and self.max_concurrency > 1:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="rewardlab-client")
            answers = list(self._pool.map(lambda c: self._post(ROUTE, self._payload(c, select)), chunks))
        else:
            answers = [self._post(ROUTE, self._payload(c, select)) for c in chunks]
        return self._merge(chunks, answers)

    def score(self, prompts: Sequence[Text], responses: Sequence[Text], progress: bool = False) -> RewardOutput:
        """Rewards of each (prompts[i], responses[i]) from the server (the Scorer protocol).

        Args:
            prompts: N prompts (strings or message lists).
            responses: N responses.
            progress: unused (kept for the Scorer protocol).

        Returns:
            RewardOutput: mean, and std / members when the served model gives them.

        Raises:
            RewardlabError: different lengths, an item the server could not score, or no answer.

        Example:
            >>> from rewardlab.serve import RewardClient
            >>> RewardClient("http://127.0.0.1:8600").score([], []).mean
            array([], dtype=float64)
        """
        items = self._items(prompts, responses)
        return _output(self.rewards(items) if items else [], self.name)

    def info(self) -> dict[str, Any]:
        """GET /info of the least busy replica (model, revision, render-spec hash, head, limits)."""
        i = self.replicas.acquire()
        try:
            response = self._http.get(self.replicas.urls[i] + "/info")
        finally:
            self.replicas.release(i)
        return self._info(i, response)

    def close(self) -> None:
        """Close the connections (and the batch thread pool)."""
        self._http.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False)

    def __enter__(self) -> RewardClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class AsyncRewardClient(_Core):
    """The asyncio client: the same arguments, retries and balancing as RewardClient, with `await`.

    Example:
        >>> import asyncio
        >>> from rewardlab.serve import AsyncRewardClient
        >>> async def main():
        ...     async with AsyncRewardClient("http://127.0.0.1:8600") as client:
        ...         return (await client.score(["2+2?"], ["4"])).mean
        >>> asyncio.run(main())  # doctest: +SKIP
        array([1.43])
    """

    def __init__(self, urls: str | Sequence[str], api_key: str | None = None, *, batch_size: int = 64,
                 timeout: float = 180.0, retries: int = 5, backoff: float = 0.2, max_backoff: float = 10.0,
                 max_concurrency: int = 8, name: str | None = None, transport: Any = None):
        super().__init__(urls, api_key, batch_size, timeout, retries, backoff, max_backoff, max_concurrency, name,
                         transport)

    def _connect(self, httpx: Any, transport: Any) -> Any:
        return httpx.AsyncClient(timeout=self.timeout, headers=self.headers, transport=transport, verify=self.tls,
                                 limits=httpx.Limits(max_connections=max(16, 2 * self.max_concurrency)))

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST `body` with the retries of `_Attempts`, awaiting between attempts."""
        import httpx

        tries = _Attempts(self, path)
        while (url := tries.next_url()) is not None:
            response, error = None, None
            try:
                response = await self._http.post(url, json=body)
            except httpx.TransportError as e:
                error = e
            finally:
                tries.release()
            if (delay := tries.settle(response, error)) is not None:
                await asyncio.sleep(delay)
        return tries.result()

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a JSON body to `path` of the least busy replica, with the retries (see `RewardClient.post`)."""
        return await self._post(path, body)

    async def rewards(self, items: Sequence[dict[str, Any]], select: str | None = None) -> list[dict[str, Any]]:
        """Per-item results of POST /v1/rewards (see `RewardClient.rewards`); batches run concurrently (at most
        `max_concurrency` at once)."""
        chunks = self._chunks(list(items))
        gate = asyncio.Semaphore(self.max_concurrency)

        async def one(c: list[dict[str, Any]]) -> dict[str, Any]:
            async with gate:
                return await self._post(ROUTE, self._payload(c, select))

        answers = await asyncio.gather(*(one(c) for c in chunks))
        return self._merge(chunks, answers)

    async def score(self, prompts: Sequence[Text], responses: Sequence[Text], progress: bool = False) -> RewardOutput:
        """Rewards of each (prompts[i], responses[i]) (see `RewardClient.score`)."""
        items = self._items(prompts, responses)
        return _output(await self.rewards(items) if items else [], self.name)

    async def info(self) -> dict[str, Any]:
        """GET /info of the least busy replica."""
        i = self.replicas.acquire()
        try:
            response = await self._http.get(self.replicas.urls[i] + "/info")
        finally:
            self.replicas.release(i)
        return self._info(i, response)

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncRewardClient:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


__all__ = ["AsyncRewardClient", "RewardClient"]
