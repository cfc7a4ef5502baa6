"""Running the reward server: `run_server` (the `rewardlab serve` command) and `BackgroundServer` (uvicorn in a
thread, for tests, benchmarks and notebooks).

Shutdown is graceful: on SIGTERM (or SIGINT) the server stops accepting connections, answers requests that arrive
on open connections with 503 + Retry-After, lets every request already queued or in the model finish, then stops
the model worker (uvicorn's graceful shutdown, bounded by `timeout_s` + 5 seconds).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from types import FrameType
from typing import Any

import uvicorn

from rewardlab.errors import RewardlabError
from rewardlab.results import FilesWritten
from rewardlab.serve.spec import API_KEY_ENV, KERNEL_CACHE_ENV, ServeCommandSpec, ServeSpec, check_bind

logger = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn's server, telling the app to refuse new requests the moment a shutdown signal arrives."""

    def __init__(self, config: uvicorn.Config, app: Any):
        super().__init__(config)
        self._app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        state = getattr(getattr(self._app, "state", None), "server", None)
        if state is not None:
            state.engine.draining = True
        super().handle_exit(sig, frame)


def _config(app: Any, host: str, port: int, log_level: str, grace: float,
            spec: ServeSpec | None = None) -> uvicorn.Config:
    """uvicorn's settings: the guarded h11 protocol (request read deadline, connection cap), keep-alive and TLS
    from the spec (the app's own spec when none is given)."""
    from rewardlab.serve.protocol import guarded

    spec = spec or getattr(getattr(getattr(app, "state", None), "server", None), "spec", None) or ServeSpec()
    tls = {"ssl_certfile": spec.ssl_certfile, "ssl_keyfile": spec.ssl_keyfile} if spec.ssl_certfile else {}
    # keep-alive: longer than clients' own idle expiry (httpx 5 s, aiohttp 15 s), so a client never sends on a
    # connection the server is closing at that moment (uvicorn's default, 5 s, equals httpx's and makes exactly
    # that race: a connection error instead of an answer)
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on",
                          timeout_graceful_shutdown=int(grace) + 1, timeout_keep_alive=int(spec.keep_alive_s),
                          access_log=log_level == "debug", server_header=False,
                          http=guarded(spec.request_read_timeout_s, spec.max_connections), **tls)


def run_server(model: Any, spec: ServeSpec | None = None, log_level: str = "info") -> None:
    """Serve a reward model over HTTP until SIGTERM / SIGINT (then finish the requests in flight and exit).

    Args:
        model: a checkpoint path (loaded onto `spec.device`), a ModelScorer, a LoadedModel or any Scorer.
        spec: the server settings; default ServeSpec() (127.0.0.1:8600).
        log_level: uvicorn's log level ('debug' adds an access log).

    Returns:
        None, once the server has shut down.

    Raises:
        RewardlabError: a non-loopback host without an api key (checked before the model loads), or a model that
            cannot be loaded.

    Example:
        >>> from rewardlab.serve import ServeSpec, run_server
        >>> run_server("runs/demo/model", ServeSpec(port=8600))  # doctest: +SKIP
        >>> run_server("runs/demo/model", ServeSpec(host="0.0.0.0"))
        Traceback (most recent call last):
        rewardlab.errors.RewardlabError: refusing to serve on 0.0.0.0 without an api key: ...
    """
    from rewardlab.serve.app import create_app

    spec = spec or ServeSpec()
    if spec.api_key:
        logger.warning("the api key was given as an argument: other users of this machine can read it in `ps`; "
                       "prefer --api-key-file or %s", API_KEY_ENV)
    check_bind(spec.host, spec.resolved_api_key())
    for path in (spec.ssl_certfile, spec.ssl_keyfile):
        if path and not os.path.isfile(path):
            raise RewardlabError(f"TLS file {path} does not exist")
    set_kernel_cache(spec)
    if spec.cpu_threads:
        import torch

        torch.set_num_threads(spec.cpu_threads)  # this process is the server's own: its global setting is ours
    app = create_app(model, spec)
    server = _Server(_config(app, spec.host, spec.port, log_level, spec.timeout_s + 5, spec), app)
    logger.info("rewardlab serve: %s://%s:%d (auth %s)", "https" if spec.ssl_certfile else "http", spec.host,
                spec.port, "on" if spec.resolved_api_key() else "off")
    server.run()


def set_kernel_cache(spec: ServeSpec) -> str:
    """Size oneDNN's CPU kernel cache for this server process (`ServeSpec.cpu_kernel_cache`), unless
    ONEDNN_PRIMITIVE_CACHE_CAPACITY is already in the environment; logs and returns the value in force.

    oneDNN reads the variable when it builds its first kernel, so this must run before the process's first CPU
    forward pass (`run_server` calls it before it loads the model).

    Args:
        spec: the server settings (`cpu_kernel_cache`).

    Returns:
        The capacity in force, as the environment now holds it.

    Example:
        >>> set_kernel_cache(ServeSpec(cpu_kernel_cache=0))  # doctest: +SKIP
        '0'
    """
    given = os.environ.get(KERNEL_CACHE_ENV)
    value = os.environ.setdefault(KERNEL_CACHE_ENV, str(spec.cpu_kernel_cache))
    logger.info("oneDNN CPU kernel cache: %s entries (%s)", value,
                f"{KERNEL_CACHE_ENV} from the environment" if given is not None else "--cpu-kernel-cache")
    return value


class BackgroundServer:
    """uvicorn serving an app in a daemon thread (loopback by default), started and stopped from Python.

    Args:
        app: the ASGI app (`create_app(...)`).
        host: the address to bind.
        port: the port; 0 picks a free one (see `url` once started).
        log_level: uvicorn's log level.
        grace: seconds a graceful stop waits for requests in flight.

    Example:
        >>> import httpx
        >>> from rewardlab.scoring import CallableScorer
        >>> from rewardlab.serve import BackgroundServer, create_app
        >>> with BackgroundServer(create_app(CallableScorer(lambda prompt, response: 1.0))) as server:
        ...     httpx.get(server.url + "/health").json()
        {'status': 'ok'}
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning",
                 grace: float = 30.0):
        self.app = app
        self.server = _Server(_config(app, host, port, log_level, grace), app)
        self.thread = threading.Thread(target=self.server.run, name="rewardlab-server", daemon=True)
        self.host = host
        self.port = port

    def start(self, timeout: float = 30.0) -> BackgroundServer:
        """Start serving; returns once the socket listens.

        Raises:
            RewardlabError: the server did not start within `timeout` seconds.
        """
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RewardlabError(f"the server did not start on {self.host}:{self.port} within {timeout:g} s")
            time.sleep(0.01)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        """http(s)://host:port of the running server."""
        scheme = "https" if self.server.config.is_ssl else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def shutdown(self) -> None:
        """Begin a graceful shutdown, as SIGTERM does (returns at once; `join` waits for it)."""
        self.server.handle_exit(signal.SIGTERM, None)

    def join(self, timeout: float = 30.0) -> bool:
        """Wait for the server thread to end; whether it ended."""
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful shutdown, then wait (at most `timeout` seconds, then force)."""
        if self.thread.is_alive():
            self.shutdown()
            if not self.join(timeout):
                self.server.force_exit = True
                self.join(5.0)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


__all__ = ["BackgroundServer", "run_server"]


def serve(spec: ServeCommandSpec) -> FilesWritten:
    """Serve `spec.model` over HTTP until SIGTERM / SIGINT (`rewardlab.serve.server.run_server`).

    Args:
        spec: the model, the log level and the server settings.
    Returns:
        FilesWritten: empty; the server has stopped.
    Raises:
        RewardlabError: an unloadable model, or settings the server refuses (a public host without a key).

    Example:
        >>> serve(ServeCommandSpec.from_options(model="runs/rm"))  # doctest: +SKIP
    """
    run_server(spec.model, spec.serving, log_level=spec.log_level)
    return FilesWritten()
