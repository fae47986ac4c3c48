"""Registration accepts what the original runtime accepts, says what it noticed, and runs it."""

from __future__ import annotations

from typing import Any

import pytest
from jamjet.workflow import WorkflowGraph
from jamjet.workflow.nodes import HumanApprovalNode

from jamjet_common import catalog
from tests.e2e.stack import Stack, services
from tests.helpers import eventually
from tests.sdk import steps, versioned
from tests.sdk.support import decide, execution, finished, held, register, request

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def fresh() -> None:
    steps.ATTEMPTS.clear()
    versioned.RAN.clear()


async def test_a_decorator_workflow_with_a_spaced_id_and_pydantic_state_runs(stack: Stack) -> None:
    ir = steps.workflow_ir(steps.review)
    async with services(stack):
        reply = await register(stack, ir)
        execution_id = await stack.start("doc review", {"text": "three small words"})
        await held(stack, execution_id)
        await decide(stack, execution_id, "approved", "alice")
        assert await finished(stack, execution_id) == "workflow_completed"
        stored = await execution(stack, execution_id)
        keys = await (await stack.nc.jetstream().key_value("jamjet_workflows")).keys()
    assert reply["workflow_id"] == "doc review" and reply["version"] == "1.0"
    assert reply["warnings"] == [
        "version '1.0' is not a semantic version X.Y.Z: it becomes the latest version when registered "
        "after another, unless both are semantic versions",
        "node 'count': retry_policy 'fast' is neither built in (io_default, llm_default, no_retry) nor in "
        "retry_policies; the default policy applies (3 attempts)",
    ]
    state = stored["current_state"]
    assert (state["words"], state["tries"], state["text"]) == (3, 3, "THREE SMALL WORDS")
    assert state["summary"] == "3 words: THREE SMALL"
    assert stored["workflow_id"] == "doc review"
    assert f"default.{catalog.id_key('doc review')}.v.1.0" in keys
    assert catalog.parse_record_key(f"default.{catalog.id_key('doc review')}.v.1.0") == (
        "default",
        "doc review",
        "1.0",
    )


async def test_steps_defined_in_a_class_run_by_their_dotted_path(stack: Stack) -> None:
    async with services(stack):
        await register(stack, steps.workflow_ir(steps.extraction))
        execution_id = await stack.start("acme.extraction", {"raw": "colour=blue"})
        assert await finished(stack, execution_id) == "workflow_completed"
        state = (await execution(stack, execution_id))["current_state"]
    assert state["fields"] == {"colour": "blue"} and state["tagged"] is True


async def test_latest_orders_by_semver_where_both_parse_else_by_registration(stack: Stack) -> None:
    expected_latest = {"1.0": "1.0", "2.0": "2.0", "1.5.0": "1.5.0", "1.2.0": "1.5.0", "1.10.0": "1.10.0"}
    async with services(stack):
        seen = {}
        for version, latest in expected_latest.items():
            await register(stack, versioned.versioned(version))
            started = await request(stack, "jamjet.cmd.executions.start", {"workflow_id": "acme.versions"})
            seen[version] = started["workflow_version"]
            assert latest == seen[version]

        async def stored_latest() -> bool:
            answer = await request(stack, "jamjet.store.workflow", {"workflow_id": "acme.versions"})
            return answer.get("ok") is True and answer["workflow"]["version"] == "1.10.0"

        await eventually(stored_latest, timeout=30, message="the store's latest differs from the scheduler's")
    assert seen == expected_latest


async def test_an_unreachable_step_is_accepted_listed_and_never_run(stack: Stack) -> None:
    async with services(stack):
        reply = await register(stack, steps.workflow_ir(versioned.skipping))
        execution_id = await stack.start("skipping")
        assert await finished(stack, execution_id) == "workflow_completed"

        async def stored() -> dict[str, Any] | None:
            answer = await request(stack, "jamjet.store.workflow", {"workflow_id": "skipping"})
            return answer.get("workflow")

        record = await eventually(stored, timeout=30, message="the store never got the workflow")
    assert reply["warnings"] == ["node 'orphan' is not reachable from start node 'first': it never runs"]
    assert record["warnings"] == reply["warnings"]
    assert versioned.RAN == ["first", "last"]


async def test_a_cycle_is_refused_naming_its_nodes(stack: Stack) -> None:
    graph = WorkflowGraph("loopy")
    graph.add_node("ask", HumanApprovalNode(description="ask"))
    graph.add_node("check", HumanApprovalNode(description="check"))
    graph.add_edge("ask", "check").add_edge("check", "ask")
    async with services(stack):
        answer = await request(stack, "jamjet.cmd.workflows.register", {"ir": graph.compile()})
    assert answer["ok"] is False and answer["error"]["code"] == "invalid_ir"
    assert (
        "edges form a cycle through nodes 'ask', 'check': ask -> check -> ask" in answer["error"]["message"]
    )


@pytest.mark.parametrize("workflow_id", ["", "x" * 257, "bad\nid"])
async def test_unusable_workflow_ids_are_refused_with_a_reason(stack: Stack, workflow_id: str) -> None:
    graph = WorkflowGraph(workflow_id)
    graph.add_node("ask", HumanApprovalNode(description="ask"))
    async with services(stack):
        answer = await request(stack, "jamjet.cmd.workflows.register", {"ir": graph.compile()})
        started = await request(stack, "jamjet.cmd.executions.start", {"workflow_id": workflow_id})
    assert answer["ok"] is False and "workflow_id" in answer["error"]["message"]
    assert started["ok"] is False and started["error"]["code"] == "invalid_workflow_id"
