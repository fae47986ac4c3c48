"""The connection pool: opened (and the schema migrated) once Postgres answers, however long that takes."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from jamjet_common.errors import RetryableError
from jamjet_common.local.postgres import redact
from services.event_store.config import StoreConfig
from services.event_store.migrate import migrate
from services.event_store.projection import refold_queued
from services.event_store.retry import Backoff

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECS = 5.0
CLOSE_TIMEOUT_SECS = 10.0


class StoreUnavailableError(RetryableError):
    """Postgres cannot be reached (or has not been reached since the service started)."""

    code = "store_unavailable"


class Database:
    def __init__(self, config: StoreConfig) -> None:
        self._config = config
        self._pool: asyncpg.Pool | None = None
        self.ready = asyncio.Event()

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None or not self.ready.is_set():
            raise StoreUnavailableError("the event store has not reached Postgres (or migrated it) yet")
        return self._pool

    async def open(self, stopping: asyncio.Event) -> bool:
        """Open the pool and migrate, retrying until done (True) or ``stopping`` is set (False)."""
        backoff = Backoff()
        while not stopping.is_set():
            try:
                await self._open_once()
                return True
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                delay = backoff.next_delay()
                logger.warning(
                    "Postgres at %s unavailable (%r); retrying in %.1fs",
                    redact(self._config.database_url),
                    exc,
                    delay,
                )
                await _sleep_unless(stopping, delay)
        return False

    async def _open_once(self) -> None:
        if self._pool is None:
            await self._migrate()
            self._pool = await asyncpg.create_pool(
                self._config.database_url,
                min_size=self._config.pool_min,
                max_size=self._config.pool_max,
                timeout=CONNECT_TIMEOUT_SECS,
                command_timeout=self._config.command_timeout_secs,
                reset=_nothing_to_reset,
            )
        async with self._pool.acquire() as conn:
            if refolded := await refold_queued(conn):
                logger.info("folded %d executions again from their logs", refolded)
        self.ready.set()

    async def _migrate(self) -> None:
        """On a connection of its own: the migration's session-level lock ends with it, whatever fails."""
        conn = await asyncpg.connect(self._config.database_url, timeout=CONNECT_TIMEOUT_SECS)
        try:
            applied = await migrate(conn)
            if applied:
                logger.info("schema migrated to version %d", applied[-1])
        finally:
            await conn.close(timeout=CLOSE_TIMEOUT_SECS)

    async def close(self) -> None:
        if self._pool is None:
            return
        try:
            await asyncio.wait_for(self._pool.close(), CLOSE_TIMEOUT_SECS)
        except TimeoutError:
            logger.warning("Postgres pool did not close in %.0fs; terminating it", CLOSE_TIMEOUT_SECS)
            self._pool.terminate()


async def _nothing_to_reset(conn: asyncpg.Connection) -> None:
    """A pooled connection keeps no session state (no session locks, LISTENs, cursors or settings;
    asyncpg still rolls back a transaction left open), so the default reset query, a round trip on
    every release, has nothing to undo."""


async def _sleep_unless(stopping: asyncio.Event, delay: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), delay)
