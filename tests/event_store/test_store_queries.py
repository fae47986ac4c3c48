"""The jamjet.store.* queries: shapes, paging, filters, and a specific error for every bad request."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from jamjet_common import subjects
from jamjet_common.codec import ENCODER, encode
from jamjet_common.eventlog import EventLog
from jamjet_common.events import Event, EventKind, NodeCompleted, WorkflowCompleted, WorkflowStarted
from jamjet_common.records import LatestVersion, WorkflowRecord
from jamjet_common.streams import KV_WORKFLOWS
from services.event_store.service import EventStoreService
from tests.event_store.conftest import ask, execution_row
from tests.helpers import eventually


def new_id() -> str:
    return f"exec_{uuid.uuid4().hex}"


async def run_execution(
    log: EventLog, tenant: str, workflow_id: str, steps: int, *, complete: bool = False
) -> tuple[str, list[Event]]:
    execution_id = new_id()
    kinds: list[EventKind] = [
        WorkflowStarted(workflow_id=workflow_id, workflow_version="1.0.0", initial_input={"step": 0}),
        *[NodeCompleted(node_id=f"n{i}", state_patch={"step": i}) for i in range(1, steps)],
    ]
    if complete:
        kinds.append(WorkflowCompleted(final_state={"step": "done"}))
    events = [(await log.append(tenant, execution_id, kind)).event for kind in kinds]
    return execution_id, events


async def folded(pg: asyncpg.Connection, execution_id: str, last_sequence: int) -> None:
    async def check() -> bool:
        row = await execution_row(pg, execution_id)
        return row is not None and row["last_sequence"] == last_sequence

    await eventually(check, message=f"{execution_id} never folded to {last_sequence}")


async def test_events_page_from_a_sequence_in_wire_form(
    nc: NATS, log: EventLog, pg: asyncpg.Connection, store: EventStoreService
) -> None:
    execution_id, events = await run_execution(log, "acme", "wf", 25)
    await folded(pg, execution_id, 25)
    first = await ask(nc, "events", {"execution_id": execution_id, "limit": 10})
    assert first["ok"] is True and first["next_sequence"] == 11 and first["has_more"] is True
    assert [e["sequence"] for e in first["events"]] == list(range(1, 11))
    last = await ask(nc, "events", {"execution_id": execution_id, "from_sequence": 21, "limit": 10})
    assert [e["sequence"] for e in last["events"]] == list(range(21, 26))
    assert last["next_sequence"] == 26 and last["has_more"] is False
    # The stored events come back byte for byte as they were published.
    raw = await nc.request(
        "jamjet.store.events", encode({"execution_id": execution_id, "limit": 10}), timeout=5
    )
    assert all(ENCODER.encode(e) in raw.data for e in events[:10])
    assert msgspec.convert(first["events"][1], Event) == events[1]
    empty = await ask(nc, "events", {"execution_id": execution_id, "from_sequence": 26})
    assert (empty["events"], empty["next_sequence"], empty["has_more"]) == ([], 26, False)


async def test_execution_reply_has_the_whole_row(
    nc: NATS, log: EventLog, pg: asyncpg.Connection, store: EventStoreService
) -> None:
    execution_id, events = await run_execution(log, "acme", "wf-one", 3, complete=True)
    await folded(pg, execution_id, 4)
    reply = await ask(nc, "execution", {"execution_id": execution_id})
    assert reply["ok"] is True
    execution = reply["execution"]
    assert set(execution) == {
        "execution_id", "tenant", "workflow_id", "workflow_version", "status", "initial_input",
        "current_state", "last_sequence", "error", "started_at", "updated_at", "completed_at",
    }  # fmt: skip
    assert (execution["tenant"], execution["workflow_id"], execution["status"]) == (
        "acme",
        "wf-one",
        "completed",
    )
    assert (execution["initial_input"], execution["current_state"]) == ({"step": 0}, {"step": "done"})
    assert execution["last_sequence"] == 4 and execution["error"] is None
    assert datetime.fromisoformat(execution["started_at"]) == events[0].created_at
    assert datetime.fromisoformat(execution["completed_at"]) == events[-1].created_at


async def test_executions_page_newest_first_with_a_cursor(
    nc: NATS, log: EventLog, pg: asyncpg.Connection, store: EventStoreService
) -> None:
    tenant = f"t{uuid.uuid4().hex[:8]}"
    made = [
        await run_execution(log, tenant, "wf-a" if i % 2 else "wf-b", 1, complete=i < 5) for i in range(23)
    ]
    ids = [execution_id for execution_id, _ in made]
    for execution_id, events in made:
        await folded(pg, execution_id, len(events))
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        reply = await ask(nc, "executions", {"tenant": tenant, "limit": 10, "after": after})
        assert reply["ok"] is True
        seen += [e["execution_id"] for e in reply["executions"]]
        pages += 1
        after = reply["next"]
        if after is None:
            break
    assert pages == 3
    assert seen == list(reversed(ids))
    completed = await ask(nc, "executions", {"tenant": tenant, "status": "completed"})
    assert sorted(e["execution_id"] for e in completed["executions"]) == sorted(ids[:5])
    assert completed["next"] is None
    by_workflow = await ask(nc, "executions", {"tenant": tenant, "workflow_id": "wf-a", "status": "running"})
    assert [e["execution_id"] for e in by_workflow["executions"]] == [
        x for x in reversed(ids[5:]) if ids.index(x) % 2
    ]


async def test_workflow_versions_come_from_the_catalog_bucket(
    nc: NATS, pg: asyncpg.Connection, store: EventStoreService
) -> None:
    dead: list[bytes] = []

    async def collect(msg: Msg) -> None:
        dead.append(msg.data)

    await nc.subscribe(subjects.DLQ_DECODE, cb=collect)
    kv = await nc.jetstream().key_value(KV_WORKFLOWS)
    await kv.put("acme.broken.v.1.0.0", b'{"tenant": "acme"}')
    for version in ("1.2.0", "1.10.0", "1.10.0-rc.1"):
        ir = {"workflow_id": "flow", "version": version, "nodes": {"a": {"id": "a"}}}
        record = WorkflowRecord(
            tenant="acme",
            workflow_id="flow",
            version=version,
            ir=msgspec.Raw(encode(ir)),
            registered_at=datetime.now(UTC),
        )
        await kv.put(f"acme.flow.v.{version}", encode(record))
    await kv.put("acme.flow.latest", encode(LatestVersion(version="1.10.0")))

    async def latest() -> dict[str, Any] | None:
        reply = await ask(nc, "workflow", {"workflow_id": "flow", "tenant": "acme"})
        return reply if reply["ok"] and reply["workflow"]["version"] == "1.10.0" else None

    reply = await eventually(latest, message="the catalog never reached the store")
    assert reply["workflow"]["ir"] == {
        "workflow_id": "flow",
        "version": "1.10.0",
        "nodes": {"a": {"id": "a"}},
    }
    pinned = await ask(nc, "workflow", {"workflow_id": "flow", "tenant": "acme", "version": "1.2.0"})
    assert pinned["workflow"]["ir"]["version"] == "1.2.0"
    missing = await ask(nc, "workflow", {"workflow_id": "flow", "tenant": "other"})
    assert missing["error"]["code"] == "unknown_workflow"
    versions = await pg.fetch("SELECT version FROM workflows ORDER BY version")
    assert [r["version"] for r in versions] == ["1.10.0", "1.10.0-rc.1", "1.2.0"]  # no "latest" row
    await eventually(lambda: dead, message="the broken record was not dead-lettered")
    assert msgspec.json.decode(dead[0])["subject"] == "$KV.jamjet_workflows.acme.broken.v.1.0.0"


def after_cursor(position: list[Any]) -> bytes:
    """A request for the page after ``position``, wrapped the way the store wraps its cursors."""
    cursor = base64.urlsafe_b64encode(encode(position)).decode().rstrip("=")
    return encode({"after": cursor})


BAD_QUERIES = [
    ("events", b"{not json", "malformed_json"),
    ("events", b'{"execution_id": 5}', "invalid_request"),
    ("events", b'{"limit": 5}', "invalid_request"),
    ("events", b'{"execution_id": "a.b"}', "invalid_token"),
    ("events", b'{"execution_id": "x", "limit": 0}', "invalid_limit"),
    ("events", b'{"execution_id": "x", "limit": 1001}', "invalid_limit"),
    ("events", b'{"execution_id": "x", "from_sequence": -1}', "invalid_from_sequence"),
    ("events", b'{"execution_id": "nobody"}', "unknown_execution"),
    ("execution", b'{"execution_id": "nobody"}', "unknown_execution"),
    ("execution", b"[]", "invalid_request"),
    ("executions", b'{"status": "sleeping"}', "invalid_status"),
    ("executions", b'{"after": "bm90IGEgY3Vyc29y"}', "invalid_cursor"),
    ("executions", b'{"after": "%%%"}', "invalid_cursor"),
    ("executions", b'{"tenant": "a b"}', "invalid_token"),
    ("executions", b'{"limit": "ten"}', "invalid_request"),
    ("workflow", b'{"workflow_id": "w", "version": ""}', "invalid_version"),
    ("workflow", b'{"workflow_id": "w\\u0007"}', "invalid_workflow_id"),
    ("workflow", b'{"workflow_id": "nothing"}', "unknown_workflow"),
    ("dead_letters", b"{not json", "malformed_json"),
    ("dead_letters", b'{"limit": "ten"}', "invalid_request"),
    ("dead_letters", b'{"kind": 5}', "invalid_request"),
    ("dead_letters", b'{"limit": 0}', "invalid_limit"),
    ("dead_letters", b'{"limit": 1001}', "invalid_limit"),
    ("dead_letters", b'{"kind": "lost"}', "invalid_kind"),
    ("dead_letters", b'{"tenant": "a b"}', "invalid_token"),
    ("dead_letters", b'{"execution_id": "a.b"}', "invalid_token"),
    ("dead_letters", b'{"after": "%%%"}', "invalid_cursor"),
    ("dead_letters", after_cursor([0]), "invalid_cursor"),
    ("dead_letters", after_cursor([2**63]), "invalid_cursor"),
    # An executions cursor is not a dead letters cursor, nor the other way round.
    ("dead_letters", after_cursor(["2024-01-01T00:00:00Z", "exec_a"]), "invalid_cursor"),
    ("executions", after_cursor([5]), "invalid_cursor"),
    ("dead_letters", b"[]", "invalid_request"),
    ("dead_letters", b'{"kind": "' + b"x" * 20000 + b'"}', "payload_too_large"),
    ("nope", b"{}", "unknown_query"),
    ("events.deeper", b"{}", "unknown_query"),
    ("events", b'{"execution_id": "' + b"x" * 20000 + b'"}', "payload_too_large"),
]


async def test_bad_queries_get_specific_errors(nc: NATS, store: EventStoreService) -> None:
    # One store answers every case, in turn: each bad request must leave it answering the next.
    for query, body, code in BAD_QUERIES:
        reply = await ask(nc, query, None, raw=body)
        assert reply["ok"] is False, (query, body[:60])
        assert reply["error"]["code"] == code, (query, body[:60], reply)
        assert reply["error"]["message"]
    still = await ask(nc, "executions", {"limit": 1})
    assert still == {"ok": True, "executions": [], "next": None}
