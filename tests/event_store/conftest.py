"""Fixtures of the event store tests: a running store on the test's NATS and database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from nats.aio.client import Client as NATS

from jamjet_common import subjects
from jamjet_common.config import Env
from jamjet_common.eventlog import EventLog
from services.event_store.migrate import migrate
from services.event_store.service import EventStoreService
from tests.harness import running, service_env
from tests.helpers import ask as runtime_request
from tests.helpers import eventually


def build_store(nats_url: str, database_url: str, **extra: str) -> EventStoreService:
    return EventStoreService.from_env(Env(service_env(nats_url, database_url, **extra)))


@pytest.fixture
async def store(nats_url: str, database_url: str) -> AsyncIterator[EventStoreService]:
    async with running(build_store(nats_url, database_url)) as service:
        await eventually(service.db.ready.is_set, message="the store never reached Postgres")
        yield service


@pytest.fixture
async def pg(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def migrated(pg: asyncpg.Connection) -> asyncpg.Connection:
    """A connection to the test's database with the store's schema, for tests without the service."""
    await migrate(pg)
    return pg


@pytest.fixture
def log(nc: NATS, store: EventStoreService) -> EventLog:
    """An event log on the streams the store provisioned."""
    return EventLog(nc, nc.jetstream())


async def ask(nc: NATS, query: str, body: Any, *, raw: bytes | None = None) -> dict[str, Any]:
    """Send a store query and decode the reply."""
    return await runtime_request(nc, subjects.store(query), raw if raw is not None else body)


async def stored_count(pg: asyncpg.Connection, execution_id: str) -> int:
    count: int = await pg.fetchval("SELECT count(*) FROM events WHERE execution_id = $1", execution_id)
    return count


async def execution_row(pg: asyncpg.Connection, execution_id: str) -> asyncpg.Record | None:
    return await pg.fetchrow("SELECT * FROM executions WHERE execution_id = $1", execution_id)
