"""Postgres outages and rows Postgres refuses: nothing is lost, nothing is doubled, the store keeps going."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import msgspec
import pytest
from nats.aio.client import Client as NATS

from jamjet_common import streams, subjects
from jamjet_common.eventlog import EventLog
from jamjet_common.events import NodeScheduled, WorkflowStarted
from services.event_store.service import EventStoreService
from tests.event_store.conftest import ask, build_store, execution_row, stored_count
from tests.event_store.logs import ran
from tests.event_store.proxy import PostgresRelay
from tests.harness import running
from tests.helpers import eventually

TENANT = "acme"


@pytest.fixture
async def relay(database_url: str) -> AsyncIterator[PostgresRelay]:
    relay = PostgresRelay(database_url)
    await relay.start()
    try:
        yield relay
    finally:
        await relay.close()


def new_id() -> str:
    return f"exec_{uuid.uuid4().hex}"


async def start_run(log: EventLog, execution_id: str, patches: int) -> None:
    await log.append(TENANT, execution_id, WorkflowStarted(workflow_id="wf", workflow_version="1.0.0"))
    for i in range(patches):
        for kind in ran(f"n{i}", state_patch={f"k{i}": i}):
            await log.append(TENANT, execution_id, kind)


async def unacked(nc: NATS) -> int:
    info = await nc.jetstream().consumer_info(streams.EVENTS, streams.EVENT_STORE_CONSUMER)
    return int(info.num_ack_pending)


async def folded_to(pg: asyncpg.Connection, execution_id: str, last_sequence: int) -> bool:
    row = await execution_row(pg, execution_id)
    return row is not None and row["last_sequence"] == last_sequence


async def test_events_published_during_an_outage_land_once_it_ends(
    nc: NATS, nats_url: str, relay: PostgresRelay, pg: asyncpg.Connection
) -> None:
    before, during = new_id(), new_id()
    async with running(build_store(nats_url, relay.url, JAMJET_STORE_POOL_MIN="1")) as store:
        await eventually(store.db.ready.is_set)
        log = EventLog(nc, nc.jetstream())
        await start_run(log, before, 2)
        await eventually(lambda: folded_to(pg, before, 5))
        await relay.cut()
        await start_run(log, during, 4)
        await eventually(lambda: unacked(nc), message="the store acknowledged events it could not write")
        outage = await ask(nc, "execution", {"execution_id": before})
        assert outage["error"]["code"] == "store_unavailable"
        assert await stored_count(pg, during) == 0
        await relay.start()
        await eventually(lambda: folded_to(pg, during, 9), timeout=20, message="events lost in the outage")
        await eventually(lambda: _no_unacked(nc), message="the written batch was never acknowledged")
        reply = await ask(nc, "execution", {"execution_id": during})
    assert reply["execution"]["current_state"] == {f"k{i}": i for i in range(4)}
    assert await stored_count(pg, during) == 9 and await stored_count(pg, before) == 5


async def _no_unacked(nc: NATS) -> bool:
    return await unacked(nc) == 0


async def test_a_store_stopped_during_an_outage_leaves_its_batch_for_the_next(
    nc: NATS, nats_url: str, database_url: str, relay: PostgresRelay, pg: asyncpg.Connection
) -> None:
    execution_id = new_id()
    async with running(build_store(nats_url, relay.url, JAMJET_SHUTDOWN_GRACE_SECS="1")) as store:
        await eventually(store.db.ready.is_set)
        await relay.cut()
        await start_run(EventLog(nc, nc.jetstream()), execution_id, 2)
        await eventually(lambda: unacked(nc), message="the store never fetched the events")
    assert await stored_count(pg, execution_id) == 0
    async with running(build_store(nats_url, database_url)):
        await eventually(lambda: folded_to(pg, execution_id, 5), message="the handed-back batch was lost")
    assert await stored_count(pg, execution_id) == 5


async def test_an_event_postgres_refuses_is_dead_lettered_alone(
    nc: NATS, store: EventStoreService, pg: asyncpg.Connection
) -> None:
    dead: list[dict[str, Any]] = []

    async def collect(msg: Any) -> None:
        dead.append(msgspec.json.decode(msg.data))

    await nc.subscribe(subjects.DLQ_DECODE, cb=collect)
    log = EventLog(nc, nc.jetstream())
    poisoned, healthy = new_id(), new_id()
    await log.append(TENANT, poisoned, WorkflowStarted(workflow_id="wf", workflow_version="1.0.0"))
    # Valid JSON, but Postgres text and jsonb cannot hold a NUL character.
    await log.append(TENANT, poisoned, NodeScheduled(node_id="bad\x00node", queue_type="general"))
    await start_run(log, healthy, 3)
    await eventually(lambda: folded_to(pg, healthy, 7), message="a refused event blocked the others")
    await eventually(lambda: dead, message="the refused event was not dead-lettered")
    assert [d["error"]["code"] for d in dead] == ["unstorable"]
    assert dead[0]["subject"] == subjects.events(TENANT, poisoned)
    assert await stored_count(pg, poisoned) == 1
    await eventually(lambda: _no_unacked(nc))
