"""The event store's settings, read once from the environment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from jamjet_common.config import DEFAULT_DATABASE_URL, ConfigError, Env

DEFAULT_BATCH = 1024
"""Events written per transaction at most. A transaction costs four round trips whatever it holds, and a
store that is behind takes full batches: W2 ran 6-8% faster at 1,024 than at 256, no faster at 2,048
(docs/benchmarks.md, fourteenth pass)."""
DEFAULT_ACK_WAIT_SECS = 60.0
DEFAULT_MAX_ACK_PENDING = 20_000
DEFAULT_LINGER_MS = 100.0


@dataclass(frozen=True, slots=True)
class StoreConfig:
    database_url: str
    batch: int
    """Messages fetched, and written in one transaction, at a time."""
    pool_min: int
    pool_max: int
    ack_wait_secs: float
    """How long a fetched batch may stay unacknowledged before JetStream redelivers it."""
    max_ack_pending: int
    command_timeout_secs: float
    """A statement running longer than this counts as a database failure and is retried."""
    linger_secs: float = DEFAULT_LINGER_MS / 1000
    """How long the events feed gathers after a first event before it takes the rest in one pull
    (``PullFeed(gather=...)``): a transaction costs four round trips to Postgres whatever it holds, and
    events one at a time would pay them each, and each cost a wake besides."""

    @classmethod
    def from_env(cls, env: Env) -> Self:
        config = cls(
            database_url=env.text("DATABASE_URL", DEFAULT_DATABASE_URL),
            batch=env.integer("JAMJET_STORE_BATCH", DEFAULT_BATCH, minimum=1),
            pool_min=env.integer("JAMJET_STORE_POOL_MIN", 1, minimum=0),
            pool_max=env.integer("JAMJET_STORE_POOL_MAX", 10, minimum=2),
            ack_wait_secs=env.number("JAMJET_STORE_ACK_WAIT_SECS", DEFAULT_ACK_WAIT_SECS, minimum=1.0),
            max_ack_pending=env.integer("JAMJET_STORE_MAX_ACK_PENDING", DEFAULT_MAX_ACK_PENDING, minimum=1),
            command_timeout_secs=env.number("JAMJET_STORE_COMMAND_TIMEOUT_SECS", 30.0, minimum=1.0),
            linger_secs=env.number("JAMJET_STORE_LINGER_MS", DEFAULT_LINGER_MS, minimum=0.0) / 1000,
        )
        if config.pool_min > config.pool_max:
            raise ConfigError(
                f"JAMJET_STORE_POOL_MIN={config.pool_min} is above JAMJET_STORE_POOL_MAX={config.pool_max}"
            )
        if config.batch > config.max_ack_pending:
            raise ConfigError(
                f"JAMJET_STORE_BATCH={config.batch} is above "
                f"JAMJET_STORE_MAX_ACK_PENDING={config.max_ack_pending}"
            )
        return config
