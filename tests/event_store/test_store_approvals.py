"""Approvals requested of humans: the approvals table the fold keeps, and the jamjet.store.approvals query."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

import asyncpg
from nats.aio.client import Client as NATS

from jamjet_common.eventlog import EventLog
from jamjet_common.events import NodeCancelled, ToolApprovalRequired, WorkflowCancelled
from services.event_store.service import EventStoreService
from tests.event_store.conftest import ask
from tests.event_store.logs import append_all, decided, held, new_id, ran, settled, started

TENANT = "acme"


async def approvals(nc: NATS, **query: Any) -> list[dict[str, Any]]:
    reply = await ask(nc, "approvals", query)
    assert reply["ok"] is True, reply
    found: list[dict[str, Any]] = reply["approvals"]
    return found


async def test_a_request_is_pending_until_the_first_decision(
    nc: NATS, log: EventLog, pg: asyncpg.Connection, store: EventStoreService
) -> None:
    execution_id = new_id()
    context = {"amount": 5, "to": "bob"}
    events = await append_all(
        log, TENANT, execution_id, [started({"n": 1}), *held("pay", "payments.send", "finance", context)]
    )
    assert (await settled(pg, execution_id, 3))["status"] == "paused"
    [pending] = await approvals(nc, execution_id=execution_id)
    assert pending == {
        "execution_id": execution_id,
        "tenant": TENANT,
        "node_id": "pay",
        "tool_name": "payments.send",
        "approver": "finance",
        "context": context,
        "status": "pending",
        "requested_seq": 3,
        "requested_at": pending["requested_at"],
        "user_id": None,
        "comment": None,
        "decided_seq": None,
        "decided_at": None,
    }
    assert datetime.fromisoformat(pending["requested_at"]) == events[2].created_at

    first = decided("pay", "alice", comment="fine", state_patch={"approved_by": "alice"})
    second = decided("pay", "bob", "rejected", comment="too late", state_patch={"approved_by": "bob"})
    [answer, _] = await append_all(log, TENANT, execution_id, [first, second])
    row = await settled(pg, execution_id, 5)
    assert row["status"] == "running"
    assert json.loads(row["current_state"]) == {"n": 1, "approved_by": "alice"}  # the second is ignored
    assert await approvals(nc, execution_id=execution_id) == []
    [approved] = await approvals(nc, execution_id=execution_id, status="all")
    assert (approved["status"], approved["user_id"], approved["comment"]) == ("approved", "alice", "fine")
    assert (
        approved["decided_seq"] == 4 and datetime.fromisoformat(approved["decided_at"]) == answer.created_at
    )
    assert await approvals(nc, execution_id=execution_id, status="approved") == [approved]


async def test_rejections_and_timeouts_are_recorded_with_who_decided(
    nc: NATS, log: EventLog, pg: asyncpg.Connection, store: EventStoreService
) -> None:
    rejected, expired = new_id(), new_id()
    await append_all(log, TENANT, rejected, [started(), *held("wire"), decided("wire", "carol", "rejected")])
    timeout = decided("wait", "system", "rejected", comment="approval timed out after 30s")
    await append_all(log, TENANT, expired, [started(), *held("wait"), timeout])
    await settled(pg, rejected, 4)
    await settled(pg, expired, 4)
    [by_carol] = await approvals(nc, execution_id=rejected, status="rejected")
    [by_clock] = await approvals(nc, execution_id=expired, status="rejected")
    assert (by_carol["user_id"], by_carol["comment"], by_carol["decided_seq"]) == ("carol", None, 4)
    assert (by_clock["user_id"], by_clock["comment"]) == ("system", "approval timed out after 30s")


async def test_decisions_nobody_waits_for_are_ignored(
    nc: NATS, log: EventLog, pg: asyncpg.Connection, store: EventStoreService
) -> None:
    execution_id = new_id()
    kinds = [
        started({"n": 0}),
        decided("ghost", "mallory", state_patch={"n": 1}),  # no request at all
        *held("a"),
        decided("b", "mallory", state_patch={"n": 2}),  # another node than the one waiting
        # A request for a node that is not in flight: nothing can act on it, so it never waits.
        ToolApprovalRequired(node_id="idle", tool_name="t", approver="human"),
    ]
    await append_all(log, TENANT, execution_id, kinds)
    row = await settled(pg, execution_id, 6)
    assert row["status"] == "paused" and json.loads(row["current_state"]) == {"n": 0}
    everything = await approvals(nc, execution_id=execution_id, status="all")
    assert [(a["node_id"], a["status"], a["user_id"]) for a in everything] == [
        ("idle", "closed", None),
        ("a", "pending", None),
    ]


async def test_pending_requests_close_when_their_node_settles_or_the_execution_ends(
    nc: NATS, log: EventLog, pg: asyncpg.Connection, store: EventStoreService
) -> None:
    execution_id = new_id()
    kinds = [started(), *held("a"), *held("b"), *held("c"), NodeCancelled(node_id="c")]
    await append_all(log, TENANT, execution_id, kinds)
    await settled(pg, execution_id, 8)
    assert {a["node_id"] for a in await approvals(nc, execution_id=execution_id)} == {"a", "b"}
    end = await append_all(
        log, TENANT, execution_id, [decided("a", "alice"), WorkflowCancelled(reason="user request")]
    )
    await append_all(log, TENANT, execution_id, [decided("b", "late")])  # after the end: ignored
    assert (await settled(pg, execution_id, 11))["status"] == "cancelled"
    everything = await approvals(nc, execution_id=execution_id, status="all")
    assert {a["node_id"]: (a["status"], a["decided_seq"]) for a in everything} == {
        "a": ("approved", 9),
        "b": ("closed", 10),
        "c": ("closed", 8),
    }
    closed = await approvals(nc, execution_id=execution_id, status="closed")
    assert [a["node_id"] for a in closed] == ["c", "b"]  # newest request first
    assert datetime.fromisoformat(closed[1]["decided_at"]) == end[1].created_at
    assert await approvals(nc, execution_id=execution_id) == []


async def test_a_new_request_for_a_waiting_node_supersedes_the_old_one(
    nc: NATS, log: EventLog, pg: asyncpg.Connection, store: EventStoreService
) -> None:
    execution_id = new_id()
    again = ToolApprovalRequired(node_id="a", tool_name="tool", approver="human", context={"try": 2})
    await append_all(log, TENANT, execution_id, [started(), *held("a"), again, decided("a", "alice")])
    await settled(pg, execution_id, 5)
    everything = await approvals(nc, execution_id=execution_id, status="all")
    assert [(a["requested_seq"], a["status"], a["decided_seq"]) for a in everything] == [
        (4, "approved", 5),
        (3, "closed", 4),
    ]


async def test_approved_nodes_run_again_and_their_completion_counts(
    nc: NATS, log: EventLog, pg: asyncpg.Connection, store: EventStoreService
) -> None:
    execution_id = new_id()
    kinds = [started(), *held("a"), decided("a", "alice"), *ran("a", state_patch={"done": True})]
    await append_all(log, TENANT, execution_id, kinds)
    row = await settled(pg, execution_id, 6)
    assert json.loads(row["current_state"]) == {"done": True} and row["status"] == "running"
    [approved] = await approvals(nc, execution_id=execution_id, status="all")
    assert approved["status"] == "approved"  # the completion after the decision closes nothing


async def test_listing_per_tenant_and_per_execution_pages_newest_first(
    nc: NATS, log: EventLog, pg: asyncpg.Connection, store: EventStoreService
) -> None:
    ours, theirs = [new_id() for _ in range(3)], new_id()
    for execution_id in ours:
        await append_all(log, "t-one", execution_id, [started(), *held("a"), *held("b"), decided("a", "u")])
    await append_all(log, "t-two", theirs, [started(), *held("a")])
    for execution_id in ours:
        await settled(pg, execution_id, 6)
    await settled(pg, theirs, 3)

    pending = await _all_pages(nc, tenant="t-one", limit=2)
    assert [(a["execution_id"], a["node_id"]) for a in pending] == [(x, "b") for x in reversed(ours)]
    everything = await _all_pages(nc, tenant="t-one", status="all", limit=4)
    assert len(everything) == 6 and everything == sorted(everything, key=_key, reverse=True)
    assert {a["tenant"] for a in everything} == {"t-one"}
    assert [a["node_id"] for a in await approvals(nc, tenant="t-two")] == ["a"]
    assert [a["node_id"] for a in await approvals(nc, execution_id=ours[0], status="all")] == ["b", "a"]
    assert len(await approvals(nc, status="all", limit=1000)) == 7
    assert len(await approvals(nc, tenant="t-one", status="approved")) == 3


async def _all_pages(nc: NATS, **query: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    after: str | None = None
    for _ in range(20):
        reply = await ask(nc, "approvals", {**query, **({"after": after} if after else {})})
        assert reply["ok"] is True and len(reply["approvals"]) <= query["limit"]
        found.extend(reply["approvals"])
        after = reply["next"]
        if after is None:
            return found
    raise AssertionError("paging never ended")


def _key(approval: dict[str, Any]) -> tuple[str, str, int]:
    return approval["requested_at"], approval["execution_id"], approval["requested_seq"]


async def test_bad_approvals_queries_get_specific_errors(nc: NATS, store: EventStoreService) -> None:
    cases: list[tuple[Any, str]] = [
        ({"status": "maybe"}, "invalid_status"),
        ({"limit": 0}, "invalid_limit"),
        ({"limit": 1001}, "invalid_limit"),
        ({"after": "not-a-cursor"}, "invalid_cursor"),
        ({"tenant": "a.b"}, "invalid_token"),
        ({"execution_id": "x y"}, "invalid_token"),
        ({"execution_id": 7}, "invalid_request"),
        ({"status": None}, "invalid_request"),
    ]
    for body, code in cases:
        reply = await ask(nc, "approvals", body)
        assert (reply["ok"], reply["error"]["code"]) == (False, code), body
    malformed = await ask(nc, "approvals", None, raw=b"{status")
    assert malformed["error"]["code"] == "malformed_json"
    # Cursors of another listing, or with a bad position, are refused rather than misread.
    for position in (
        ["2026-01-01T00:00:00Z", "exec_a"],
        ["2026-01-01T00:00:00", "exec_a", 3],
        ["2026-01-01T00:00:00Z", "exec a", 3],
        ["2026-01-01T00:00:00Z", "exec_a", 0],
    ):
        cursor = base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")
        reply = await ask(nc, "approvals", {"after": cursor})
        assert reply["error"]["code"] == "invalid_cursor", position


def _z(iso: str) -> str:
    return iso.replace("+00:00", "Z")
