"""ServeSpec: every setting of the reward server, declared once (`rewardlab.config.option`) and validated.

The same declarations give `rewardlab serve` its flags and `create_app` / `run_server` their settings, so a
limit has one default and one help text.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

from rewardlab.config import Spec, option
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
    api_key: str | None = option(None, help=f"Bearer token every inference route requires (default: ${API_KEY_ENV}"
                                 "; none on loopback).")
    max_batch_tokens: int = option(16384, min=16, help="Token budget of one model batch (padded length x rows).")
    max_wait_ms: float = option(5.0, min=0.0, help="How long the model worker waits for one more request while "
                                "it forms a batch (in all at most this or a tenth of the last batch's model time, "
                                "whichever is longer).")
    max_queue: int = option(256, min=1, help="Requests waiting for the model at most; beyond it: 503 with "
                            "Retry-After.")
    max_items: int = option(256, min=1, help="Items in one request at most (413 beyond).")
    max_tokens_per_item: int = option(16384, min=8, help="Tokens of one item before truncation at most (that item "
                                      "is refused beyond; shorter ones are truncated by the render spec).")
    max_body_bytes: int = option(2_000_000, min=1024, help="Request body size at most (413 beyond).")
    timeout_s: float = option(60.0, min=0.0, min_exclusive=True, help="Seconds a request may wait for its "
                              "rewards (504 beyond).")
    device: str = option("auto", help="auto (cuda when available, else cpu), cpu, cuda, cuda:N or mps.")
    select: str = option("mean", help="Default selection rule of /get_reward, /classify and requests without "
                         "'select': mean, lcb:k, quantile:q, min or uwo:lambda.")
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
        from rewardlab.config import ConfigError
        from rewardlab.optimize.pessimism import parse_rule

        try:
            self.select = parse_rule(self.select).name
        except ValueError as e:
            raise ConfigError(f"{{0}}: {e}", "select") from None

    def resolved_api_key(self) -> str | None:
        """The api key in force: this spec's, else the REWARDLAB_API_KEY environment variable, else None."""
        return self.api_key or os.environ.get(API_KEY_ENV) or None


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
