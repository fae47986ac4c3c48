"""Fixtures of the worker tests: a running policy service and worker, and dispatching work to them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from jamjet_common import streams, subjects
from jamjet_common.catalog import record_key
from jamjet_common.codec import ENCODER
from jamjet_common.config import Env
from jamjet_common.eventlog import MSG_ID, EventLog
from jamjet_common.events import Event, NodeScheduled, WorkflowStarted
from jamjet_common.ir import NodeDef
from jamjet_common.messages import LogPosition, WorkItem
from jamjet_common.records import WorkflowRecord
from services.policy.service import PolicyService
from services.worker.service import WorkerService
from tests.harness import running, service_env
from tests.worker.builders import work_item

WorkerFactory = Callable[..., AbstractAsyncContextManager[WorkerService]]


@pytest.fixture
async def js(nc: NATS) -> JetStreamContext:
    js = nc.jetstream(timeout=10)
    await streams.ensure_streams(js, streams.StreamLimits.from_env(Env({})))
    return js


@pytest.fixture
async def policy(nats_url: str) -> AsyncIterator[PolicyService]:
    async with running(PolicyService.from_env(Env(service_env(nats_url)))) as service:
        yield service


@pytest.fixture
def start_worker(nats_url: str) -> WorkerFactory:
    """``async with start_worker(**env) as worker``: a running worker with extra settings."""

    def start(**extra: str) -> AbstractAsyncContextManager[WorkerService]:
        env = {"JAMJET_WORKER_QUEUES": "python_tool,general", "JAMJET_WORKER_CONCURRENCY": "4", **extra}
        return running(WorkerService.from_env(Env(service_env(nats_url, **env))))

    return start


@pytest.fixture
async def worker(policy: PolicyService, start_worker: WorkerFactory) -> AsyncIterator[WorkerService]:
    async with start_worker() as service:
        yield service


class Dispatcher:
    """Plays the scheduler's part: records a NodeScheduled, then publishes its work item."""

    def __init__(self, nc: NATS, js: JetStreamContext) -> None:
        self.js = js
        self.log = EventLog(nc, js)

    async def dispatch(self, node: NodeDef, state: dict[str, Any] | None = None, **fields: Any) -> WorkItem:
        return await self.publish(await self.schedule(node, state, **fields))

    async def schedule(self, node: NodeDef, state: dict[str, Any] | None = None, **fields: Any) -> WorkItem:
        """Record the dispatch in the log and return its work item, without publishing it."""
        draft = work_item(node, state, **fields)
        started = WorkflowStarted(workflow_id="wf", workflow_version="1.0.0", initial_input=draft.state)
        await self.log.append(draft.tenant, draft.execution_id, started)
        scheduled = NodeScheduled(node_id=node.id, queue_type=node.kind.queue_type)
        appended = await self.log.append(draft.tenant, draft.execution_id, scheduled)
        # As the scheduler's items do, the item says where its NodeScheduled sits in the log.
        position = LogPosition(sequence=appended.tail.sequence, stream_seq=appended.tail.stream_seq)
        placed = {"execution_id": draft.execution_id, "dispatch": appended.event.sequence}
        return work_item(node, state, **{"scheduled_at": position, **fields, **placed})

    async def publish(self, item: WorkItem) -> WorkItem:
        """Publish ``item`` as a version of its own workflow, registered with the item's node only."""
        item = msgspec.structs.replace(item, workflow_version=f"1.0.0-{uuid.uuid4().hex}")
        await self.register(item)
        data = ENCODER.encode(item)
        await self.js.publish(subjects.work(item.queue_type), data, headers={MSG_ID: item.item_id})
        return item

    async def register(self, item: WorkItem) -> None:
        """Workers run only a node of a registered workflow version (``provenance.WorkflowNodes``)."""
        ir = {"workflow_id": item.workflow_id, "version": item.workflow_version, "start_node": item.node_id}
        ir |= {"nodes": {item.node_id: item.node}, "edges": []}
        record = WorkflowRecord(
            tenant=item.tenant,
            workflow_id=item.workflow_id,
            version=item.workflow_version,
            ir=msgspec.Raw(ENCODER.encode(ir)),
            registered_at=datetime.now(UTC),
        )
        kv = await self.js.key_value(streams.KV_WORKFLOWS)
        key = record_key(item.tenant, item.workflow_id, item.workflow_version)
        await kv.put(key, ENCODER.encode(record))

    async def events(self, item: WorkItem) -> list[Event]:
        return [event async for event, _ in self.log.read(item.tenant, item.execution_id)]

    async def node_events(self, item: WorkItem) -> list[Event]:
        """The events the worker appended: everything after the dispatch's NodeScheduled."""
        return [e for e in await self.events(item) if e.sequence > item.dispatch]


@pytest.fixture
def dispatcher(nc: NATS, js: JetStreamContext) -> Dispatcher:
    return Dispatcher(nc, js)
