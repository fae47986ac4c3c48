"""Wait nodes: durable timers and external events sent with jamjet.cmd.signals."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e import workflows
from tests.e2e.stack import Stack, services
from tests.helpers import ask as runtime_request
from tests.helpers import eventually

pytestmark = pytest.mark.e2e


async def signal(stack: Stack, execution_id: str, key: str, payload: Any) -> dict[str, Any]:
    body = {"execution_id": execution_id, "correlation_key": key, "payload": payload}
    return await runtime_request(stack.nc, "jamjet.cmd.signals", body)


def kinds(stack: Stack, execution_id: str) -> list[str]:
    return stack.recorder.kinds(execution_id)


async def test_a_timer_wait_completes_when_its_timer_fires(stack: Stack) -> None:
    async with services(stack):
        await stack.register(workflows.waiting("timer", timeout_secs=1, key=None))
        execution_id = await stack.start("wait_timer")
        await stack.all_terminal([execution_id], timeout=20)
    seen = kinds(stack, execution_id)
    assert seen.index("timer_created") < seen.index("timer_fired") < seen.index("workflow_completed")
    assert stack.recorder.terminal[execution_id] == "workflow_completed"


async def test_an_external_event_completes_the_wait_with_its_payload(stack: Stack) -> None:
    async with services(stack):
        await stack.register(workflows.waiting("external_event"))
        execution_id = await stack.start("wait_external_event")
        await eventually(
            lambda: "node_scheduled" in kinds(stack, execution_id) and _waiting(stack, execution_id)
        )
        answer = await signal(stack, execution_id, "payment", {"amount": 42})
        assert answer == {
            "ok": True,
            "execution_id": execution_id,
            "correlation_key": "payment",
            "accepted": True,
        }
        await stack.all_terminal([execution_id])
    final = stack.recorder.events[execution_id][-1]["kind"]
    assert final["type"] == "workflow_completed" and final["final_state"]["payment"] == {"amount": 42}


async def test_an_event_that_does_not_come_in_time_fails_the_wait(stack: Stack) -> None:
    async with services(stack):
        await stack.register(workflows.waiting("external_event", timeout_secs=1))
        execution_id = await stack.start("wait_external_event")
        await stack.all_terminal([execution_id], timeout=20)
    failed = [e["kind"] for e in stack.recorder.events[execution_id] if e["kind"]["type"] == "node_failed"]
    assert failed[0]["error"] == "wait for event 'payment' timed out after 1s"
    assert stack.recorder.terminal[execution_id] == "workflow_failed"


async def test_either_completes_on_the_event_before_the_timer(stack: Stack) -> None:
    async with services(stack):
        await stack.register(workflows.waiting("either", timeout_secs=60))
        execution_id = await stack.start("wait_either")
        await eventually(lambda: _waiting(stack, execution_id))
        await signal(stack, execution_id, "payment", "paid")
        await stack.all_terminal([execution_id])
        bad = await signal(stack, execution_id, "payment", "again")
        assert bad["error"]["code"] == "execution_terminal"
    assert "timer_fired" not in kinds(stack, execution_id)


def _waiting(stack: Stack, execution_id: str) -> bool:
    return any(
        e["kind"]["type"] == "node_scheduled" and e["kind"]["node_id"] == "hold"
        for e in stack.recorder.events[execution_id]
    )
