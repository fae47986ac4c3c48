"""Models, budgets, policy blocks, agent autonomy and tenants, through the running services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.e2e import workflows
from tests.e2e.stack import Stack, services
from tests.executors.fake_http import FakeHttpServer, Reply, Request
from tests.helpers import ask as runtime_request
from tests.helpers import eventually

pytestmark = pytest.mark.e2e


def chat_reply(request: Request) -> Reply:
    if not request.path.endswith("/chat/completions"):
        return Reply(404, {"error": {"message": "not here"}})
    body = request.json()
    prompt = body["messages"][-1]["content"]
    return Reply(
        200,
        {
            "id": "cmpl-1",
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": f"ok: {prompt}"},
                }
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20},
        },
    )


def agent_reply(request: Request) -> Reply:
    return Reply(200, {"answer": "done", "tokens": 5})


@pytest.fixture
async def llm() -> AsyncIterator[FakeHttpServer]:
    async with FakeHttpServer(chat_reply) as server:
        yield server


def model_env(llm: FakeHttpServer) -> dict[str, str]:
    return {"JAMJET_MODEL_BASE_URL": llm.url, "JAMJET_MODEL_API_KEY": "sk-test"}


async def ask(stack: Stack, subject: str, body: dict[str, Any]) -> dict[str, Any]:
    return await runtime_request(stack.nc, subject, body)


def kinds_of(stack: Stack, execution_id: str, tag: str) -> list[dict[str, Any]]:
    return [e["kind"] for e in stack.recorder.events[execution_id] if e["kind"]["type"] == tag]


async def no_work_left(stack: Stack) -> bool:
    # Polled: a worker acknowledges its newest item a little later (jamjet_common.held_ack).
    return (await stack.nc.jetstream().stream_info("JAMJET_WORK")).state.messages == 0


async def test_a_model_node_calls_the_model_and_reports_usage(stack: Stack, llm: FakeHttpServer) -> None:
    async with services(stack, **model_env(llm)):
        await stack.register(workflows.model_chain())
        execution_id = await stack.start("thinker", {"topic": "tides"})
        await stack.all_terminal([execution_id])
    assert stack.recorder.terminal[execution_id] == "workflow_completed"
    completed = kinds_of(stack, execution_id, "node_completed")[0]
    assert completed["node_id"] == "think" and completed["output"]["content"] == "ok: Summarise tides"
    assert (completed["input_tokens"], completed["output_tokens"]) == (12, 8)
    assert completed["gen_ai_model"] == "gpt-4o-mini" and completed["finish_reason"] == "stop"
    assert completed["cost_usd"] is not None and completed["cost_usd"] > 0
    sent = llm.last.json()
    assert sent["model"] == "gpt-4o-mini" and sent["temperature"] == 0.1 and sent["max_tokens"] == 64
    assert llm.last.headers["authorization"] == "Bearer sk-test"
    final = stack.recorder.events[execution_id][-1]["kind"]["final_state"]
    assert final["last_model_output"] == "ok: Summarise tides"
    assert final["__budget"]["total_input_tokens"] == 12 and final["__budget"]["iteration_count"] == 1


async def test_a_token_budget_fails_the_execution_at_once(stack: Stack, llm: FakeHttpServer) -> None:
    async with services(stack, **model_env(llm)):
        await stack.register(workflows.model_chain(token_budget=10))
        execution_id = await stack.start("thinker", {"topic": "tides"})
        await stack.all_terminal([execution_id])
        await eventually(lambda: no_work_left(stack), message="work items stayed in JAMJET_WORK")
    assert kinds_of(stack, execution_id, "token_budget_exceeded") == [
        {
            "type": "token_budget_exceeded",
            "node_id": "think",
            "kind": "total_tokens",
            "limit": 10,
            "current": 20,
        }
    ]
    assert stack.recorder.events[execution_id][-1]["kind"] == {
        "type": "workflow_failed",
        "error": "token budget exceeded: total_tokens 20 > 10",
    }
    assert not any(k["node_id"] == "finish" for k in kinds_of(stack, execution_id, "node_scheduled"))


async def test_a_blocked_node_fails_once_without_retries(stack: Stack) -> None:
    async with services(stack):
        await stack.register(workflows.blocked_fn())
        execution_id = await stack.start("risky")
        await stack.all_terminal([execution_id])
        await eventually(lambda: no_work_left(stack), message="work items stayed in JAMJET_WORK")
    violations = kinds_of(stack, execution_id, "policy_violation")
    assert len(violations) == 1 and violations[0]["node_id"] == "danger"
    assert violations[0]["decision"] == "blocked" and violations[0]["policy_scope"] == "workflow"
    danger_starts = [k for k in kinds_of(stack, execution_id, "node_started") if k["node_id"] == "danger"]
    assert len(danger_starts) == 1
    failed = kinds_of(stack, execution_id, "node_failed")
    assert len(failed) == 1 and failed[0]["retryable"] is False and "blocked by policy" in failed[0]["error"]
    assert stack.recorder.terminal[execution_id] == "workflow_failed"


async def test_a_bounded_agent_over_its_iterations_escalates(stack: Stack, llm: FakeHttpServer) -> None:
    async with FakeHttpServer(agent_reply) as agent, services(stack, **model_env(llm)):
        uri = agent.url
        card = {
            "uri": uri,
            "name": "trader",
            "autonomy": "bounded_autonomous",
            "constraints": {"max_iterations": 1},
        }
        registered = await ask(stack, "jamjet.cmd.agents.register", {"card": card})
        assert registered["ok"], registered
        activated = await ask(stack, "jamjet.cmd.agents.activate", {"id": registered["agent"]["id"]})
        assert activated["ok"], activated
        await stack.register(workflows.agent_after_model(uri))
        execution_id = await stack.start("agentic", {"topic": "markets"})
        await stack.all_terminal([execution_id])
        assert agent.requests == [], "the agent must not be called past its limit"
    limit = kinds_of(stack, execution_id, "autonomy_limit_reached")
    assert limit == [
        {
            "type": "autonomy_limit_reached",
            "node_id": "act",
            "agent_ref": uri,
            "limit_type": "max_iterations",
            "limit_value": 1,
            "actual_value": 1,
        }
    ]
    escalation = kinds_of(stack, execution_id, "escalation_required")
    assert escalation[0]["reason"] == "autonomy_limit:max_iterations"
    assert escalation[0]["escalation_target"] == "human_approval"
    assert stack.recorder.terminal[execution_id] == "workflow_failed"


async def test_tenants_suspended_and_over_their_limits_cannot_start(stack: Stack) -> None:
    async with services(stack):
        await ask(
            stack, "jamjet.cmd.tenants.create", {"id": "acme", "limits": {"max_concurrent_executions": 1}}
        )
        await ask(stack, "jamjet.cmd.tenants.create", {"id": "shady"})
        await ask(stack, "jamjet.cmd.workflows.register", {"ir": workflows.approval(), "tenant": "acme"})
        first = await ask(stack, "jamjet.cmd.executions.start", {"workflow_id": "gated", "tenant": "acme"})
        assert first["ok"], first
        await stack_wait_paused(stack, first["execution_id"])
        second = await ask(stack, "jamjet.cmd.executions.start", {"workflow_id": "gated", "tenant": "acme"})
        assert second["error"]["code"] == "tenant_limit_exceeded"
        assert "running executions 1 of 1" in second["error"]["message"]
        await ask(stack, "jamjet.cmd.tenants.suspend", {"id": "shady"})
        refused = await ask(stack, "jamjet.cmd.executions.start", {"workflow_id": "gated", "tenant": "shady"})
        assert refused["error"]["code"] == "tenant_suspended"


async def stack_wait_paused(stack: Stack, execution_id: str) -> None:
    from tests.helpers import eventually

    async def paused() -> bool:
        reply = await ask(stack, "jamjet.store.execution", {"execution_id": execution_id})
        return bool(reply.get("ok")) and reply["execution"]["status"] in ("running", "paused")

    await eventually(paused, message="the first execution never reached the store")


async def test_a_cost_budget_fails_the_execution(stack: Stack, llm: FakeHttpServer) -> None:
    ir = workflows.model_chain()
    ir["cost_budget_usd"] = 0.000001
    async with services(stack, **model_env(llm)):
        await stack.register(ir)
        execution_id = await stack.start("thinker", {"topic": "tides"})
        await stack.all_terminal([execution_id])
    over = kinds_of(stack, execution_id, "cost_budget_exceeded")
    assert len(over) == 1 and over[0]["node_id"] == "think" and over[0]["limit_usd"] == 0.000001
    assert over[0]["current_usd"] > 0.000001
    assert stack.recorder.events[execution_id][-1]["kind"]["error"].startswith("cost budget exceeded")


async def test_a_tenant_over_its_monthly_tokens_cannot_start(stack: Stack, llm: FakeHttpServer) -> None:
    async with services(stack, **model_env(llm)):
        await ask(stack, "jamjet.cmd.tenants.create", {"id": "meter", "limits": {"max_tokens_per_month": 10}})
        body = {"ir": workflows.model_chain(), "tenant": "meter"}
        await ask(stack, "jamjet.cmd.workflows.register", body)
        first = await ask(stack, "jamjet.cmd.executions.start", {"workflow_id": "thinker", "tenant": "meter"})
        await stack.all_terminal([first["execution_id"]])

        async def refused() -> bool:
            start = {"workflow_id": "thinker", "tenant": "meter"}
            reply = await ask(stack, "jamjet.cmd.executions.start", start)
            return reply.get("error", {}).get("code") == "tenant_limit_exceeded"

        from tests.helpers import eventually

        await eventually(refused, message="the monthly token limit was never enforced")


async def test_an_mcp_tool_runs_through_the_services(stack: Stack) -> None:
    import sys

    server = {"transport": "stdio", "command": sys.executable, "args": ["-m", "tests.agents.mcp_server"]}
    kind = {
        "type": "mcp_tool",
        "server": "tools",
        "tool": "add",
        "input_mapping": {"a": "state.a", "b": "state.b"},
    }
    ir = workflows.workflow([{"id": "sum", "kind": kind}], [("sum", "end")], wf="mcp_sum")
    ir["mcp_servers"] = {"tools": server}
    async with services(stack, JAMJET_MCP_ALLOWED_COMMANDS=sys.executable):
        await stack.register(ir)
        execution_id = await stack.start("mcp_sum", {"a": 2, "b": 3})
        await stack.all_terminal([execution_id])
    completed = kinds_of(stack, execution_id, "node_completed")
    assert stack.recorder.terminal[execution_id] == "workflow_completed", stack.recorder.events[execution_id]
    assert completed[0]["output"] == {"result": 5}  # the SDK wraps a plain return value


async def test_an_escalation_can_open_an_approval_instead(stack: Stack, llm: FakeHttpServer) -> None:
    async with FakeHttpServer(agent_reply) as agent, services(stack, **model_env(llm)):
        uri = agent.url
        card = {
            "uri": uri,
            "name": "careful",
            "autonomy": "bounded_autonomous",
            "constraints": {"max_iterations": 1},
            "labels": {"jamjet.escalation": "approval"},
        }
        registered = await ask(stack, "jamjet.cmd.agents.register", {"card": card})
        await ask(stack, "jamjet.cmd.agents.activate", {"id": registered["agent"]["id"]})
        await stack.register(workflows.agent_after_model(uri))
        execution_id = await stack.start("agentic", {"topic": "risk"})
        from tests.helpers import eventually

        await eventually(lambda: bool(kinds_of(stack, execution_id, "tool_approval_required")))
        assert agent.requests == []
        decision = {"execution_id": execution_id, "decision": "approved", "user_id": "supervisor"}
        assert (await ask(stack, "jamjet.cmd.approvals", decision))["ok"] is True
        await stack.all_terminal([execution_id])
        assert len(agent.requests) == 1
    assert (
        kinds_of(stack, execution_id, "escalation_required")[0]["reason"] == "autonomy_limit:max_iterations"
    )
    assert stack.recorder.terminal[execution_id] == "workflow_completed"
