"""ServeSpec: every setting of the reward server, declared once (`rewardlab.config.option`) and validated.

The same declarations give `rewardlab serve` its flags and `create_app` / `run_server` their settings, so a
limit has one default and one help text.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from typing import Literal

from rewardlab.config import ConfigError, Spec, option
from rewardlab.errors import RewardlabError

API_KEY_ENV = "REWARDLAB_API_KEY"
KERNEL_CACHE_ENV = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"
LOOPBACK_NAMES = ("localhost", "ip6-localhost")


@dataclass
class ServeSpec(Spec):
    """Where the reward server listens, who may call it, and the limits that keep it responsive.

    Example:
        >>> spec = ServeSpec(port=8600, max_wait_ms=2.0)
        >>> spec.host, spec.max_queue, spec.select
        ('127.0.0.1', 256, 'mean')
        >>> ServeSpec(max_queue=0)
        Traceback (most recent call last):
        rewardlab.config.ConfigError: max_queue must be >= 1, got 0
    """

    section_title = "serving"

    host: str = option("127.0.0.1", help="Address to bind. A non-loopback address needs --api-key (or "
                       f"{API_KEY_ENV}).")
    port: int = option(8600, min=0, max=65535, help="TCP port (0 picks a free one).")
    api_key: str | None = option(None, help=f"Bearer token every inference route, /info and the API docs require "
                                 f"(default: --api-key-file, else ${API_KEY_ENV}; none on loopback). A key given "
                                 "on the command line is visible to other users in `ps`: prefer the file or the "
                                 "environment variable.")
    api_key_file: str | None = option(None, help="File whose first line is the api key (kept out of `ps` and shell "
                                      "history).")
    allowed_hosts: list[str] | None = option(None, help="Host header names the server answers (port ignored), "
                                             "comma-separated, '*' for any. Default: on a loopback address only "
                                             "localhost, 127.0.0.1 and ::1, so a web page cannot reach the server "
                                             "through DNS rebinding; any host elsewhere (the api key guards it).")
    ssl_certfile: str | None = option(None, help="TLS certificate (PEM) for https; use with --ssl-keyfile when "
                                      "serving beyond loopback.")
    ssl_keyfile: str | None = option(None, help="TLS private key (PEM) of --ssl-certfile.")
    max_batch_tokens: int = option(16384, min=16, help="Token budget of one model batch (padded length x rows).")
    max_wait_ms: float = option(5.0, min=0.0, help="How long the model worker waits for one more request while "
                                "it forms a batch (in all at most this or a tenth of the last batch's model time, "
                                "whichever is longer).")
    max_queue: int = option(256, min=1, help="Requests waiting for the model at most; beyond it: 503 with "
                            "Retry-After.")
    max_queue_tokens: int | None = option(None, min=1, help="Estimated tokens (characters / 4) waiting for the model "
                                          "at most, beyond: 503 with Retry-After (default: 16 x "
                                          "max_batch_tokens).")
    max_items: int = option(256, min=1, help="Items in one request at most (413 beyond).")
    max_tokens_per_item: int = option(16384, min=8, help="Tokens of one item before truncation at most (that item "
                                      "is refused beyond; shorter ones are truncated by the render spec).")
    max_chars_per_item: int | None = option(None, min=1, help="Characters of one item at most, checked before "
                                            "any tokenising (that item is refused beyond). Default: 16 x "
                                            "max_tokens_per_item.")
    max_body_bytes: int = option(2_000_000, min=1024, help="Request body size at most (413 beyond).")
    max_json_depth: int = option(32, min=4, help="Nesting depth of a request's JSON at most (422 beyond).")
    max_connections: int = option(512, min=2, help="Open connections at most. A new connection beyond it closes "
                                  "the oldest one that has no request being answered (idle, or still sending its "
                                  "headers); when every connection is busy, the new one is closed.")
    request_read_timeout_s: float = option(60.0, min=0.0, min_exclusive=True, help="Seconds a client has to send a "
                                           "whole request (headers and body), counted from its first byte or from "
                                           "connecting; the connection is closed beyond (slow clients cannot hold "
                                           "connections). 15 s cut legitimate clients of a saturated 2-core "
                                           "machine (52 of 1,024 overload requests); 60 s did not.")
    keep_alive_s: float = option(75.0, min=0.0, min_exclusive=True, help="Seconds an idle keep-alive connection "
                                 "stays open (well beyond httpx's 5 s and aiohttp's 15 s idle expiry, so those "
                                 "clients never send on a connection the server is closing, even when their event "
                                 "loop lags). Idle connections are also the first closed at --max-connections.")
    timeout_s: float = option(60.0, min=0.0, min_exclusive=True, help="Seconds a request may wait for its "
                              "rewards (504 beyond).")
    device: str = option("auto", help="auto (cuda when available, else cpu), cpu, cuda, cuda:N or mps.")
    select: str = option("mean", help="Default selection rule of /get_reward, /classify and requests without "
                         "'select': mean, lcb:k, quantile:q, min or uwo:lambda.")
    policy_template: str = option("auto", help="The policy's chat template in OpenRLHF's /get_reward queries: "
                                  "auto (detected), none (a query is scored as the text it is), or one of the "
                                  "known templates (chatml, llama3, gemma, phi3, mistral, llama2, zephyr). A "
                                  "recognised query is parsed back into messages and rendered with the reward "
                                  "model's own RenderSpec.")
    bf16: bool = option(False, help="bf16 autocast in the model (fast on GPUs and AMX CPUs).")
    cpu_threads: int | None = option(None, min=1, help="torch CPU threads of `rewardlab serve` (default: torch's "
                                     "choice, one per core). On a machine shared with clients or other work, fewer "
                                     "than the cores can be faster: a descheduled OpenMP thread stalls the others.")
    cpu_kernel_cache: int = option(0, min=0, help=(
        f"Entries of oneDNN's CPU kernel cache in `rewardlab serve` ({KERNEL_CACHE_ENV}; oneDNN's own default is "
        "1024). Every new batch shape compiles and keeps a kernel, and a server's batch shapes keep changing, so "
        "memory grew with the default (+16% over 1,000 requests, MiniLM) and stays flat at 0, at the same "
        f"throughput. {KERNEL_CACHE_ENV} set in the environment wins. Takes effect if no CPU kernel ran in the "
        "process before the server started."))

    def check(self) -> None:
        from rewardlab.chat_parse import TEMPLATE_NAMES
        from rewardlab.rules import parse_rule

        try:
            self.select = parse_rule(self.select).name
        except ValueError as e:
            raise ConfigError(f"{{0}}: {e}", "select") from None
        if self.policy_template not in ("auto", "none", *TEMPLATE_NAMES):
            raise ConfigError(f"{{0}} must be auto, none or one of {', '.join(TEMPLATE_NAMES)}, got "
                              f"{self.policy_template!r}", "policy_template")
        if bool(self.ssl_certfile) != bool(self.ssl_keyfile):
            raise ConfigError("{0} and {1} go together", "ssl_certfile", "ssl_keyfile")
        if self.api_key and self.api_key_file:
            raise ConfigError("give {0} or {1}, not both", "api_key", "api_key_file")

    def resolved_api_key(self) -> str | None:
        """The api key in force: this spec's, else the first line of `api_key_file`, else the REWARDLAB_API_KEY
        environment variable, else None.

        Raises:
            RewardlabError: `api_key_file` cannot be read or holds no key.
        """
        if self.api_key:
            return self.api_key
        if self.api_key_file:
            try:
                with open(self.api_key_file, encoding="utf-8") as f:
                    key = f.readline().strip()
            except OSError as e:
                raise RewardlabError(f"--api-key-file {self.api_key_file}: cannot read it ({e.strerror})") from None
            if not key:
                raise RewardlabError(f"--api-key-file {self.api_key_file}: the first line is empty; write the key "
                                     "there")
            return key
        return os.environ.get(API_KEY_ENV) or None

    def resolved_max_chars(self) -> int:
        """Characters of one item at most (`max_chars_per_item`, default 16 x max_tokens_per_item)."""
        return self.max_chars_per_item or 16 * self.max_tokens_per_item

    def resolved_allowed_hosts(self) -> frozenset[str] | None:
        """Host names the server answers (lower case, no port), or None for any.

        Example:
            >>> sorted(ServeSpec().resolved_allowed_hosts()), ServeSpec(host="0.0.0.0").resolved_allowed_hosts()
            (['127.0.0.1', '::1', 'localhost'], None)
        """
        if self.allowed_hosts:
            names = {h.strip().strip("[]").lower() for h in self.allowed_hosts if h.strip()}
            return None if "*" in names else frozenset(names)
        if is_loopback(self.host):
            return frozenset({"localhost", "127.0.0.1", "::1", self.host.strip().strip("[]").lower()})
        return None


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts connections from this machine (127.0.0.0/8, ::1, localhost).

    Example:
        >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("0.0.0.0"), is_loopback("10.1.2.3")
        (True, True, False, False)
    """
    h = host.strip().strip("[]").lower()
    if h in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def check_bind(host: str, api_key: str | None) -> None:
    """Refuse to listen beyond this machine without an api key.

    Args:
        host: the address the server would bind.
        api_key: the key in force (argument or environment), or None.

    Returns:
        None when serving on `host` is allowed.

    Raises:
        RewardlabError: `host` is not a loopback address and there is no api key.

    Example:
        >>> check_bind("127.0.0.1", None)
        >>> check_bind("0.0.0.0", None)
        Traceback (most recent call last):
        rewardlab.errors.RewardlabError: refusing to serve on 0.0.0.0 without an api key: ...
    """
    if not is_loopback(host) and not api_key:
        raise RewardlabError(
            f"refusing to serve on {host} without an api key: anyone who can reach it could use the model. Pass "
            f"--api-key (or set {API_KEY_ENV}), or bind 127.0.0.1")


__all__ = ["API_KEY_ENV", "ServeSpec", "check_bind", "is_loopback"]


LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


@dataclass
class ServeCommandSpec(Spec):
    """`rewardlab serve`: the model to serve, the server's log level, and the server settings (ServeSpec).

    Example:
        >>> ServeCommandSpec.from_options(model="runs/rm", port=9000).serving.port
        9000
    """

    section_title = "serve"

    model: str | None = option(None, flag="--model", aliases=("-m",), help="Checkpoint folder, ensemble folder or "
                               "Hugging Face reward model (folder or hub id) (required).")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = option(
        "info", help="Server log level (debug adds an access log).")
    serving: ServeSpec = field(default_factory=ServeSpec)

    def check(self) -> None:
        self.require("model", why="the reward model to serve")

