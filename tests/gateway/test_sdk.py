"""The real ``jamjet`` SDK's JamjetClient, unchanged, against the gateway in front of the services."""

from __future__ import annotations

import uuid

import pytest
from jamjet.client import JamjetClient

from tests.e2e import workflows
from tests.e2e.stack import Stack, services
from tests.gateway.support import ALICE, agent_card, gateway
from tests.helpers import eventually

pytestmark = pytest.mark.e2e


async def _status(sdk: JamjetClient, execution_id: str) -> str:
    return str((await sdk.get_execution(execution_id))["status"])


async def test_register_start_get_list_events_approve(stack: Stack) -> None:
    async with services(stack), gateway(stack) as gw, JamjetClient(gw.url, api_token=ALICE) as sdk:
        assert (await sdk.health())["status"] == "ok"
        registered = await sdk.create_workflow(workflows.approval())
        assert (registered["workflow_id"], registered["version"]) == ("gated", "1.0.0")
        execution_id = (await sdk.start_execution("gated", {"ticket": 7}))["execution_id"]
        execution = await sdk.get_execution(execution_id)
        assert (execution["workflow_id"], execution["initial_input"]) == ("gated", {"ticket": 7})
        as_uuid = str(uuid.UUID(execution_id.removeprefix("exec_")))
        assert (await sdk.get_execution(as_uuid))["execution_id"] == execution_id
        listed = await sdk.list_executions()
        assert [e["execution_id"] for e in listed["executions"]] == [execution_id]
        pending = await eventually(lambda: _pending(sdk, execution_id), message="no approval pending")
        assert pending[0]["node_id"] == "ask"
        accepted = await sdk.approve(execution_id, "approved", comment="ship it")
        assert (accepted["node_id"], accepted["accepted"]) == ("ask", True)
        await eventually(lambda: _is(sdk, execution_id, "completed"), message="never completed")
        decided = (await sdk.list_approvals(execution_id))["decided"]
        assert [(d["node_id"], d["status"], d["comment"]) for d in decided] == [
            ("ask", "approved", "ship it")
        ]
        events = (await sdk.get_events(execution_id))["events"]
        assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
        assert events[-1]["kind"]["type"] == "workflow_completed"
        assert (await sdk.list_executions(status="completed"))["executions"][0][
            "execution_id"
        ] == execution_id
        assert (await sdk.list_executions(status="running"))["executions"] == []


async def _pending(sdk: JamjetClient, execution_id: str) -> list[dict[str, object]]:
    return list((await sdk.list_approvals(execution_id))["pending"])


async def _is(sdk: JamjetClient, execution_id: str, status: str) -> bool:
    return await _status(sdk, execution_id) == status


async def test_cancel_and_external_event(stack: Stack) -> None:
    async with services(stack), gateway(stack) as gw, JamjetClient(gw.url, api_token=ALICE) as sdk:
        await sdk.create_workflow(workflows.waiting("external_event"))
        cancelled_id = (await sdk.start_execution("wait_external_event", {}))["execution_id"]
        answer = await sdk.cancel_execution(cancelled_id)
        assert answer == {"execution_id": cancelled_id, "status": "cancelled"}
        await eventually(lambda: _is(sdk, cancelled_id, "cancelled"), message="never cancelled")
        signalled_id = (await sdk.start_execution("wait_external_event", {}))["execution_id"]
        accepted = await sdk.send_external_event(signalled_id, "payment", {"amount": 42})
        assert (accepted["execution_id"], accepted["accepted"]) == (signalled_id, True)
        await eventually(lambda: _is(sdk, signalled_id, "completed"), timeout=30, message="never completed")


async def test_paging_with_offset_and_artifacts_and_agents(stack: Stack) -> None:
    async with services(stack), gateway(stack) as gw, JamjetClient(gw.url, api_token=ALICE) as sdk:
        await sdk.create_workflow(workflows.routed())
        started = [(await sdk.start_execution("routed", {}))["execution_id"] for _ in range(5)]
        newest_first = started[::-1]
        await eventually(lambda: _count(sdk, 5), message="not all five listed")
        page = await sdk.list_executions(limit=2, offset=1)
        assert [e["execution_id"] for e in page["executions"]] == newest_first[1:3]
        ref = await sdk.put_artifact(b"\x00binary\xff", media_type="application/x-test")
        assert (ref.size, ref.media_type) == (len(b"\x00binary\xff"), "application/x-test")
        assert await sdk.get_artifact(ref.hash) == b"\x00binary\xff"
        agent_id = (await sdk.register_agent(agent_card()))["agent_id"]
        assert (await sdk.activate_agent(agent_id))["status"] == "active"
        assert [a["id"] for a in (await sdk.list_agents())["agents"]] == [agent_id]
        assert (await sdk.deactivate_agent(agent_id))["status"] == "deactivated"
        assert (await sdk.get_agent(agent_id))["card"]["name"] == "helper"


async def _count(sdk: JamjetClient, count: int) -> bool:
    return len((await sdk.list_executions())["executions"]) == count
