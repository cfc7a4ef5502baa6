"""uvicorn's HTTP/1.1 protocol (h11) with the two limits it lacks: a deadline for reading a request, and a cap
on open connections.

uvicorn arms a timer only once a response is complete (keep-alive), so a client that connects and sends nothing,
or sends its headers a byte at a time, holds a connection, a file handle and memory for as long as it likes, and
uvicorn accepts as many such connections as the process has file handles. Here:

- a request's head and body must arrive within `read_timeout` seconds of its first byte (or of the connection, for
  the first request); otherwise the connection is closed;
- beyond `max_connections` open connections, a new connection closes the oldest connection that has no request
  being answered (one still sending its request, or idle between requests); when every connection is busy, the
  new one is closed. A client can therefore never keep an authenticated client from being served by holding
  connections open: the held ones are the first to go.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

logger = logging.getLogger(__name__)


class GuardedH11Protocol(H11Protocol):
    """H11Protocol with a request read deadline and a connection cap (class attributes, set by `guarded`)."""

    read_timeout: float = 60.0
    max_connections: int = 512
    closed_slow: int = 0  # connections closed for missing the read deadline (per class, i.e. per server)
    evicted: int = 0  # connections closed to make room for a new one

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._read_deadline: asyncio.TimerHandle | None = None
        self._opened = 0.0

    # ------------------------------------------------------------------ the read deadline

    def _arm(self) -> None:
        if self._read_deadline is None:
            self._read_deadline = self.loop.call_later(self.read_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def _too_slow(self) -> None:
        self._read_deadline = None
        if not self.transport.is_closing():
            type(self).closed_slow += 1
            logger.info("closed a connection from %s: no whole request within %g s", self.client, self.read_timeout)
            self.transport.close()

    def _reading_request(self) -> bool:
        """Whether the client owes the rest of a request (its head, or a body being sent)."""
        return self.conn.their_state in (h11.IDLE, h11.SEND_BODY)

    # ------------------------------------------------------------------ the connection cap

    def _busy(self) -> bool:
        """Whether a request of this connection is being answered (it has fully arrived, no response yet)."""
        return self.cycle is not None and not self.cycle.response_complete and not self._reading_request()

    def _make_room(self) -> None:
        others = [c for c in self.connections if c is not self]
        if len(others) < self.max_connections:
            return
        idle = [c for c in others if isinstance(c, GuardedH11Protocol) and not c._busy()]
        victim = min(idle, key=lambda c: c._opened) if idle else self
        type(self).evicted += 1
        logger.warning("%d connections open (max_connections %d): closing %s", len(others) + 1,
                       self.max_connections, "the new one" if victim is self else "the oldest idle one")
        victim._disarm()
        victim.transport.close()

    # ------------------------------------------------------------------ uvicorn's hooks

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._opened = self.loop.time()
        self._arm()
        self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._arm()  # from the first byte of a request (a kept-alive connection starts a new one)
        super().data_received(data)
        if not self._reading_request() or self.transport.is_closing():
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._reading_request() and self.conn.their_state is h11.SEND_BODY:
            self._arm()  # answered before its body arrived (401, 413, ...): the rest must still come in time


def guarded(read_timeout: float, max_connections: int) -> type[GuardedH11Protocol]:
    """A GuardedH11Protocol class with these limits (uvicorn instantiates the class it is given per connection).

    Args:
        read_timeout: seconds a client has to send a whole request.
        max_connections: open connections at most (see the module docstring for who is closed beyond).

    Returns:
        The protocol class to pass as `uvicorn.Config(http=...)`.

    Example:
        >>> cls = guarded(10.0, 64)
        >>> cls.read_timeout, cls.max_connections, issubclass(cls, H11Protocol)
        (10.0, 64, True)
    """
    return type("GuardedH11Protocol", (GuardedH11Protocol,), {"read_timeout": float(read_timeout),
                                                              "max_connections": int(max_connections),
                                                              "closed_slow": 0, "evicted": 0})


__all__ = ["GuardedH11Protocol", "guarded"]
