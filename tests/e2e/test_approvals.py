"""Durable human approvals through the running services."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest

from services.event_store.service import EventStoreService
from services.policy.service import PolicyService
from services.scheduler.service import SchedulerService
from services.worker.service import WorkerService
from tests.e2e import workflows
from tests.e2e.stack import Stack, assert_gapless, services
from tests.harness import running
from tests.helpers import ask as runtime_request
from tests.helpers import eventually

pytestmark = pytest.mark.e2e


async def approve(stack: Stack, execution_id: str, **fields: Any) -> dict[str, Any]:
    body = {"execution_id": execution_id, "decision": "approved", "user_id": "alice", **fields}
    return await runtime_request(stack.nc, "jamjet.cmd.approvals", body)


async def waiting(stack: Stack, execution_id: str, node_id: str) -> None:
    await eventually(
        lambda: any(
            e["kind"]["type"] == "tool_approval_required" and e["kind"]["node_id"] == node_id
            for e in stack.recorder.events[execution_id]
        ),
        message=f"{node_id} never asked for approval",
    )


async def status(stack: Stack, execution_id: str) -> str:
    reply = await runtime_request(
        stack.nc, "jamjet.store.execution", {"execution_id": execution_id}, timeout=5
    )
    return str(reply["execution"]["status"])


def kinds(stack: Stack, execution_id: str) -> list[str]:
    return stack.recorder.kinds(execution_id)


async def test_human_approval_pauses_then_approval_resumes(stack: Stack) -> None:
    async with services(stack):
        await stack.register(workflows.approval())
        execution_id = await stack.start("gated")
        await waiting(stack, execution_id, "ask")
        await eventually(lambda: _is(stack, execution_id, "paused"), message="status never became paused")
        answer = await approve(stack, execution_id, comment="go", state_patch={"approved_by": "alice"})
        assert answer == {
            "ok": True,
            "execution_id": execution_id,
            "node_id": "ask",
            "decision": "approved",
            "accepted": True,
        }
        await stack.all_terminal([execution_id])
        await eventually(lambda: _is(stack, execution_id, "completed"))
    events = stack.recorder.events[execution_id]
    final = events[-1]["kind"]
    assert final["type"] == "workflow_completed" and final["final_state"]["approved_by"] == "alice"
    assert kinds(stack, execution_id).count("tool_approval_required") == 1
    assert [e["kind"]["node_id"] for e in events if e["kind"]["type"] == "node_completed"] == [
        "root",
        "ask",
        "work",
    ]
    assert_gapless(stack, [execution_id])


async def test_rejection_fails_the_workflow_with_the_reviewers_reason(stack: Stack) -> None:
    async with services(stack):
        await stack.register(workflows.approval())
        execution_id = await stack.start("gated")
        await waiting(stack, execution_id, "ask")
        await approve(stack, execution_id, decision="rejected", comment="too risky")
        await stack.all_terminal([execution_id])
    failed = [e["kind"] for e in stack.recorder.events[execution_id] if e["kind"]["type"] == "node_failed"]
    assert failed == [
        {
            "type": "node_failed",
            "node_id": "ask",
            "error": "approval rejected by alice: too risky",
            "attempt": 0,
            "retryable": False,
        }
    ]
    assert stack.recorder.events[execution_id][-1]["kind"] == {
        "type": "workflow_failed",
        "error": "node(s) failed terminally: ask",
    }


async def test_rejection_routes_to_the_fallback_node(stack: Stack) -> None:
    async with services(stack):
        await stack.register(workflows.approval("gated_fb", fallback=True))
        rejected = await stack.start("gated_fb")
        accepted = await stack.start("gated_fb")
        await waiting(stack, rejected, "ask")
        await waiting(stack, accepted, "ask")
        await approve(stack, rejected, decision="rejected")
        await approve(stack, accepted)
        await stack.all_terminal([rejected, accepted])
    for execution_id, ran, skipped in ((rejected, "plan_b", "work"), (accepted, "work", "plan_b")):
        events = stack.recorder.events[execution_id]
        done = [e["kind"]["node_id"] for e in events if e["kind"]["type"] == "node_completed"]
        gone = [e["kind"]["node_id"] for e in events if e["kind"]["type"] == "node_skipped"]
        assert ran in done and skipped not in done and gone == [skipped]
        assert stack.recorder.terminal[execution_id] == "workflow_completed"


async def test_an_unanswered_approval_expires(stack: Stack) -> None:
    async with services(stack):
        await stack.register(workflows.approval("gated_to", timeout_secs=1))
        execution_id = await stack.start("gated_to")
        await stack.all_terminal([execution_id], timeout=20)
    decisions = [
        e["kind"] for e in stack.recorder.events[execution_id] if e["kind"]["type"] == "approval_received"
    ]
    assert (
        decisions
        == [
            {
                "type": "approval_received",
                "node_id": "ask",
                "user_id": "system",
                "decision": "rejected",
                "comment": "approval timed out after 1s",
                "state_patch": None,
            }
        ]
        or decisions[0]["comment"] == "approval timed out after 1s"
    )
    assert stack.recorder.terminal[execution_id] == "workflow_failed"


async def test_approval_errors_are_specific(stack: Stack) -> None:
    async with services(stack):
        await stack.register(workflows.two_approvals())
        await stack.register(workflows.approval())
        two = await stack.start("two_approvals")
        await waiting(stack, two, "ask_a")
        await waiting(stack, two, "ask_b")
        assert (await approve(stack, two))["error"]["code"] == "approval_ambiguous"
        assert (await approve(stack, two, node_id="root"))["error"]["code"] == "not_pending"
        assert (await approve(stack, "exec_nope"))["error"]["code"] == "unknown_execution"
        assert (await approve(stack, two, node_id="ask_a"))["ok"] is True
        assert (await approve(stack, two, node_id="ask_a"))["error"]["code"] == "not_pending"
        assert (await approve(stack, two, node_id="ask_b"))["ok"] is True
        await stack.all_terminal([two])
        assert (await approve(stack, two))["error"]["code"] == "execution_terminal"
        plain = await stack.start("gated")
        await waiting(stack, plain, "ask")
        await approve(stack, plain)
        await stack.all_terminal([plain])
        bad = await stack.nc.request("jamjet.cmd.approvals", b'{"execution_id": 3}', timeout=5)
        assert json.loads(bad.data)["error"]["code"] == "invalid_request"


async def test_policy_require_approval_holds_the_node_and_runs_it_once_after_approval(stack: Stack) -> None:
    async with services(stack):
        await stack.register(workflows.policy_gated())
        execution_id = await stack.start("pay")
        await waiting(stack, execution_id, "pay")

        async def no_work_left() -> bool:
            return (await stack.nc.jetstream().stream_info("JAMJET_WORK")).state.messages == 0

        # The worker records the hold, then gives its work item up: the event may be seen first.
        await eventually(no_work_left, message="a held node must not keep its work item")
        await approve(stack, execution_id)
        await stack.all_terminal([execution_id])
    kinds_seen = kinds(stack, execution_id)
    assert kinds_seen.count("tool_approval_required") == 1
    assert stack.recorder.terminal[execution_id] == "workflow_completed"
    pay_completed = [
        e
        for e in stack.recorder.events[execution_id]
        if e["kind"]["type"] == "node_completed" and e["kind"]["node_id"] == "pay"
    ]
    assert len(pay_completed) == 1


async def test_a_pending_approval_survives_restarts(stack: Stack) -> None:
    env = stack.env()
    async with contextlib.AsyncExitStack() as always:
        for service in (PolicyService, EventStoreService):
            await always.enter_async_context(running(service.from_env(env)))
        async with running(SchedulerService.from_env(env)), running(WorkerService.from_env(env)):
            await stack.register(workflows.policy_gated())
            execution_id = await stack.start("pay")
            await waiting(stack, execution_id, "pay")
        async with running(SchedulerService.from_env(env)), running(WorkerService.from_env(env)):
            assert (await approve(stack, execution_id))["ok"] is True
            await stack.all_terminal([execution_id])
    assert _completions(stack, execution_id, "pay") == 1
    assert stack.recorder.terminal[execution_id] == "workflow_completed"


async def _is(stack: Stack, execution_id: str, wanted: str) -> bool:
    return await status(stack, execution_id) == wanted


def _completions(stack: Stack, execution_id: str, node_id: str) -> int:
    events = stack.recorder.events[execution_id]
    return sum(e["kind"]["type"] == "node_completed" and e["kind"]["node_id"] == node_id for e in events)
