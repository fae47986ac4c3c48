"""Scheduler commands through a real nats-server: specific errors for bad input, idempotency."""

from __future__ import annotations

import json
from typing import Any

import pytest
from nats.aio.client import Client

from jamjet_common.codec import encode
from jamjet_common.config import Env
from jamjet_common.eventlog import EventLog
from jamjet_common.events import WorkflowCancelled, WorkflowStarted
from jamjet_common.records import EPOCH, new_tenant
from services.scheduler.service import SchedulerService
from tests.harness import running, service_env
from tests.helpers import ask as runtime_request
from tests.helpers import eventually
from tests.scheduler.builders import cond, fn, workflow


def scheduler(nats_url: str, **extra: str) -> SchedulerService:
    return SchedulerService.from_env(Env(service_env(nats_url, JAMJET_MAX_MESSAGE_BYTES="4096", **extra)))


async def ask(nc: Client, subject: str, body: Any) -> dict[str, Any]:
    return await runtime_request(nc, subject, body)


def code(reply: dict[str, Any]) -> str:
    assert reply["ok"] is False, reply
    return reply["error"]["code"]


GOOD = workflow([fn("a"), fn("b")], [("a", "b"), ("b", "end")])


def broken(**changes: Any) -> dict[str, Any]:
    ir = json.loads(json.dumps(GOOD))
    ir.update(changes)
    return ir


INVALID_IRS = {
    "version": (broken(version=""), "version must be a non-empty string"),
    "start": (broken(start_node="zz"), "start node 'zz'"),
    "edge": (broken(edges=[{"from": "a", "to": "nowhere"}]), "target 'nowhere'"),
    "id": (broken(nodes={"a": fn("x"), "b": fn("b")}), "node key 'a' does not match its id 'x'"),
    "branch": (
        workflow([cond("c", [(None, "b")]), fn("a"), fn("b")], [("c", "a"), ("a", "b")]),
        "has no edge c -> b",
    ),
    "cycle": (broken(edges=[{"from": "a", "to": "b"}, {"from": "b", "to": "a"}]), "cycle"),
    "workflow_id": (broken(workflow_id="a\x07b"), "contains control characters"),
    "kind": (broken(nodes={"a": {"id": "a", "kind": {"type": "teleport"}}}), "invalid workflow IR"),
}


@pytest.mark.parametrize("case", sorted(INVALID_IRS))
async def test_invalid_ir_gets_a_specific_error(nats_url: str, nc: Client, case: str) -> None:
    ir, fragment = INVALID_IRS[case]
    async with running(scheduler(nats_url)):
        reply = await ask(nc, "jamjet.cmd.workflows.register", {"ir": ir})
    assert code(reply) == "invalid_ir"
    assert fragment in reply["error"]["message"]


async def test_bad_commands_get_specific_errors_and_the_scheduler_keeps_going(
    nats_url: str, nc: Client
) -> None:
    async with running(scheduler(nats_url)):
        assert code(await ask(nc, "jamjet.cmd.executions.start", b"{not json")) == "malformed_json"
        wrong = await ask(nc, "jamjet.cmd.executions.start", {"workflow_id": 5})
        assert code(wrong) == "invalid_request" and "workflow_id" in wrong["error"]["message"]
        big = {"workflow_id": "wf", "input": {"x": "y" * 5000}}
        assert code(await ask(nc, "jamjet.cmd.executions.start", big)) == "payload_too_large"
        assert code(await ask(nc, "jamjet.cmd.executions.start", {"workflow_id": "wf", "tenant": "a.b"})) == (
            "invalid_token"
        )
        assert (
            code(await ask(nc, "jamjet.cmd.executions.start", {"workflow_id": "nope"})) == "unknown_workflow"
        )
        assert code(
            await ask(nc, "jamjet.cmd.executions.start", {"workflow_id": "wf", "tenant": "ghost"})
        ) == ("unknown_tenant")
        assert code(await ask(nc, "jamjet.cmd.bogus", {})) == "unknown_command"
        assert code(await ask(nc, "jamjet.cmd.executions.frobnicate", {})) == "unknown_command"
        assert code(await ask(nc, "jamjet.cmd.executions.cancel", {"execution_id": "exec_none"})) == (
            "unknown_execution"
        )
        registered = await ask(nc, "jamjet.cmd.workflows.register", {"ir": GOOD})
        expected = {"ok": True, "workflow_id": "wf", "version": "1.0.0", "created": True, "warnings": []}
        assert registered == expected


async def test_register_is_idempotent_and_versions_are_immutable(nats_url: str, nc: Client) -> None:
    async with running(scheduler(nats_url)):
        assert (await ask(nc, "jamjet.cmd.workflows.register", {"ir": GOOD}))["created"] is True
        assert (await ask(nc, "jamjet.cmd.workflows.register", {"ir": GOOD}))["created"] is False
        changed = broken(description="other")
        assert code(await ask(nc, "jamjet.cmd.workflows.register", {"ir": changed})) == "version_conflict"


async def test_start_with_client_id_is_idempotent_and_cancel_works(nats_url: str, nc: Client) -> None:
    # No worker runs here, so the execution stays running until it is cancelled.
    async with running(scheduler(nats_url)):
        await ask(nc, "jamjet.cmd.workflows.register", {"ir": GOOD})
        body = {"workflow_id": "wf", "execution_id": "exec_fixed", "input": {"n": 1}}
        first = await ask(nc, "jamjet.cmd.executions.start", body)
        again = await ask(nc, "jamjet.cmd.executions.start", body)
        assert first["execution_id"] == again["execution_id"] == "exec_fixed"
        assert (first["created"], again["created"]) == (True, False)
        cancelled = await ask(nc, "jamjet.cmd.executions.cancel", {"execution_id": "exec_fixed"})
        assert cancelled == {"ok": True, "execution_id": "exec_fixed", "status": "cancelled"}
        twice = await ask(nc, "jamjet.cmd.executions.cancel", {"execution_id": "exec_fixed"})
        assert code(twice) == "execution_terminal"
        # Execution ids are global: another tenant cannot reuse one.
        tenants = await nc.jetstream().key_value("jamjet_tenants")
        await tenants.put(
            "acme", encode(new_tenant(id="acme", name="acme", created_at=EPOCH, updated_at=EPOCH))
        )
        await ask(nc, "jamjet.cmd.workflows.register", {"ir": GOOD, "tenant": "acme"})
        reused = await ask(nc, "jamjet.cmd.executions.start", {**body, "tenant": "acme"})
        assert code(reused) == "execution_exists" and "another tenant" in reused["error"]["message"]
    log = EventLog(nc, nc.jetstream())
    kinds = [e.kind async for e, _ in log.read("default", "exec_fixed")]
    assert isinstance(kinds[0], WorkflowStarted) and kinds[0].initial_input == {"n": 1}
    # Nobody had started node a: its work item is withdrawn and recorded as cancelled.
    assert [k.tag for k in kinds] == [
        "workflow_started",
        "node_scheduled",
        "workflow_cancelled",
        "node_cancelled",
    ]
    assert (await nc.jetstream().stream_info("JAMJET_WORK")).state.messages == 0
    assert isinstance(kinds[2], WorkflowCancelled) and kinds[2].reason == "user request"


async def test_command_published_while_scheduler_is_down_runs_when_it_returns(
    nats_url: str, nc: Client
) -> None:
    async with running(scheduler(nats_url)):
        await ask(nc, "jamjet.cmd.workflows.register", {"ir": GOOD})
    await nc.publish(
        "jamjet.cmd.executions.start", json.dumps({"workflow_id": "wf", "execution_id": "exec_late"}).encode()
    )
    await nc.flush()
    log = EventLog(nc, nc.jetstream())
    assert (await log.tail("default", "exec_late")).sequence == 0
    async with running(scheduler(nats_url)):
        await eventually(lambda: _scheduled(log, "exec_late"), message="the stored start command never ran")


async def _scheduled(log: EventLog, execution_id: str) -> bool:
    return [e.kind.tag async for e, _ in log.read("default", execution_id)][:2] == [
        "workflow_started",
        "node_scheduled",
    ]
