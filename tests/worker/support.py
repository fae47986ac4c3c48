"""Helpers the worker tests share: reading outcomes back, and a pipeline without a running service."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from jamjet_common import streams, subjects
from jamjet_common.codec import decode
from jamjet_common.events import (
    Event,
    EventKind,
    NodeCancelled,
    NodeCompleted,
    NodeFailed,
    ToolApprovalRequired,
)
from jamjet_common.messages import WorkDeadLetter
from jamjet_common.publisher import JsPublisher
from services.worker.config import EAGER_BY_DEFAULT
from services.worker.executors import builtin_registry
from services.worker.pipeline import Pipeline, build_parts
from tests.harness import TEST_MODULES
from tests.helpers import eventually
from tests.worker.conftest import Dispatcher

RETRIED_ONCE = ["node_started", "node_failed", "retry_scheduled", "node_started", "node_completed"]


def key() -> str:
    return uuid.uuid4().hex


async def decode_dead_letters(nc: NATS) -> asyncio.Queue[dict[str, Any]]:
    """The records published on jamjet.dlq.decode from now on."""
    dead: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def on_record(msg: Msg) -> None:
        await dead.put(json.loads(msg.data))

    await nc.subscribe(subjects.DLQ_DECODE, cb=on_record)
    await nc.flush()
    return dead


def tags(events: list[Event]) -> list[str]:
    return [e.kind.tag for e in events]


def final(kind: EventKind) -> bool:
    if isinstance(kind, NodeFailed):
        return not kind.retryable
    return isinstance(kind, NodeCompleted | NodeCancelled | ToolApprovalRequired)


async def outcome(d: Dispatcher, item: Any, timeout: float = 15) -> list[Event]:
    """The worker's events for ``item`` once its outcome is in the log."""

    async def settled() -> list[Event] | None:
        events = await d.node_events(item)
        return events if events and any(final(e.kind) for e in events) else None

    return await eventually(settled, timeout=timeout, message=f"no outcome for {item.execution_id}")


async def queue_empty(js: JetStreamContext) -> bool:
    info = await js.stream_info(streams.WORK)
    return info.state.messages == 0


async def pipeline(
    nc: NATS,
    js: JetStreamContext,
    max_msg_bytes: int = 1024 * 1024,
    worker_id: str = "w-test",
    *,
    publisher: JsPublisher | None = None,
    eager_kinds: frozenset[str] = EAGER_BY_DEFAULT,
) -> Pipeline:
    parts = await build_parts(
        nc,
        js,
        builtin_registry((TEST_MODULES,)),
        worker_id=worker_id,
        max_msg_bytes=max_msg_bytes,
        policy_timeout_secs=2.0,
        publisher=publisher,
    )
    return Pipeline(
        parts, worker_id=worker_id, heartbeat_secs=10, policy_retry_secs=1, eager_kinds=eager_kinds
    )


async def dead_letters(js: JetStreamContext) -> list[tuple[WorkDeadLetter, dict[str, str]]]:
    """Every work dead letter on the DLQ stream, read with a consumer, with its headers."""
    count = (await js.stream_info(streams.DLQ)).state.messages
    if count == 0:
        return []
    psub = await js.pull_subscribe(subjects.DLQ_WORK_ALL, stream=streams.DLQ)
    try:
        msgs = await psub.fetch(count, timeout=5)
    finally:
        await psub.unsubscribe()
    return [(decode(m.data, WorkDeadLetter), dict(m.headers or {})) for m in msgs]
