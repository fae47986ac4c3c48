"""The fold's check of a dispatch against the workflow version's nodes, when the version's row has not
reached the workflows table yet (its catalog consumer runs apart from the events): real NATS and
Postgres, without the service."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import msgspec
import pytest
from nats.aio.client import Client as NATS
from nats.js.kv import KeyValue

from jamjet_common import streams
from jamjet_common.catalog import record_key
from jamjet_common.codec import ENCODER
from jamjet_common.config import Env
from jamjet_common.events import NodeScheduled, WorkflowCompleted, WorkflowStarted
from jamjet_common.records import WorkflowRecord
from services.event_store.workflow_nodes import WorkflowNodes
from services.event_store.writer import write_events
from tests.event_store.logs import Written, consumed, ran

TENANT = "t1"
IR = {
    "workflow_id": "wf",
    "version": "2.0.0",
    "start_node": "a",
    "nodes": {"a": {"id": "a", "kind": {"type": "python_fn", "module": "m", "function": "f"}}},
    "edges": [],
}


@pytest.fixture
async def catalog(nc: NATS) -> KeyValue:
    """The catalog bucket holding version 2.0.0 of ``wf``, which the workflows table does not."""
    js = nc.jetstream(timeout=10)
    await streams.ensure_streams(js, streams.StreamLimits.from_env(Env({})))
    kv = await js.key_value(streams.KV_WORKFLOWS)
    record = WorkflowRecord(
        tenant=TENANT,
        workflow_id="wf",
        version="2.0.0",
        ir=msgspec.Raw(ENCODER.encode(IR)),
        registered_at=datetime.now(UTC),
    )
    await kv.put(record_key(TENANT, "wf", "2.0.0"), ENCODER.encode(record))
    return kv


async def forged_run(conn: asyncpg.Connection, nodes: WorkflowNodes) -> asyncpg.Record:
    """A run with a forged dispatch of a node the workflow does not have, then the real end."""
    execution_id = f"exec-{uuid.uuid4().hex[:8]}"
    kinds = [
        WorkflowStarted(workflow_id="wf", workflow_version="2.0.0", initial_input={}),
        NodeScheduled(node_id="evil", queue_type="default"),
        *ran("a"),
        WorkflowCompleted(final_state={"done": True}),
    ]
    events = consumed(TENANT, execution_id, kinds)
    await write_events(conn, events, Written(events), nodes)
    row = await conn.fetchrow("SELECT * FROM executions WHERE execution_id = $1", execution_id)
    assert row is not None
    return row


async def test_a_version_missing_from_the_table_is_checked_against_the_catalog(
    migrated: asyncpg.Connection, catalog: KeyValue
) -> None:
    row = await forged_run(migrated, WorkflowNodes(catalog))
    assert row["status"] == "completed"
    assert await migrated.fetchval("SELECT count(*) FROM workflows") == 0


async def test_without_the_catalog_the_forged_dispatch_holds_the_end_back(
    migrated: asyncpg.Connection,
) -> None:
    """What the catalog read closes: unchecked, the forged dispatch stays in flight and the store
    refuses the execution's real end, so its row is not the scheduler's."""
    row = await forged_run(migrated, WorkflowNodes())
    assert row["status"] == "running"


async def test_a_version_the_catalog_does_not_hold_is_not_checked(
    migrated: asyncpg.Connection, catalog: KeyValue
) -> None:
    await catalog.delete(record_key(TENANT, "wf", "2.0.0"))
    assert (await forged_run(migrated, WorkflowNodes(catalog)))["status"] == "running"
