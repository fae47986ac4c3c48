"""Compile with the SDK, register with ``jamjet.cmd.workflows.register``, run, and read what happened."""

from __future__ import annotations

import json
from typing import Any

from jamjet import Agent
from jamjet.compiler.agent_ir import build_initial_state, compile_agent_to_ir

from tests.e2e.stack import Stack
from tests.helpers import eventually


async def request(stack: Stack, subject: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = await stack.nc.request(subject, json.dumps(body).encode(), timeout=30)
    answer: dict[str, Any] = json.loads(reply.data)
    return answer


async def register(stack: Stack, ir: dict[str, Any], tenant: str = "default") -> dict[str, Any]:
    answer = await request(stack, "jamjet.cmd.workflows.register", {"ir": ir, "tenant": tenant})
    assert answer.get("ok"), answer
    return answer


async def run_agent(
    stack: Stack, agent: Agent, prompt: str, *, max_turns: int = 4, tenant: str = "default"
) -> str:
    """Compile ``agent`` as ``Agent.run_durable`` does, register it, and start it with ``prompt``."""
    ir = compile_agent_to_ir(agent, prompt, max_turns)
    await register(stack, ir, tenant)
    initial = build_initial_state(agent, prompt)
    return await stack.start(ir["workflow_id"], initial, workflow_version=ir["version"], tenant=tenant)


def events(stack: Stack, execution_id: str, kind: str) -> list[dict[str, Any]]:
    return [e["kind"] for e in stack.recorder.events[execution_id] if e["kind"]["type"] == kind]


async def finished(stack: Stack, execution_id: str) -> str:
    await stack.all_terminal([execution_id])
    return stack.recorder.terminal[execution_id]


async def held(stack: Stack, execution_id: str) -> dict[str, Any]:
    """The execution's (first) tool_approval_required, once it is there."""
    return await eventually(  # type: ignore[no-any-return]
        lambda: next(iter(events(stack, execution_id, "tool_approval_required")), None),
        timeout=30,
        message="no tool_approval_required",
    )


async def decide(
    stack: Stack, execution_id: str, decision: str, user: str, comment: str | None = None
) -> None:
    body = {"execution_id": execution_id, "decision": decision, "user_id": user, "comment": comment}
    answer = await request(stack, "jamjet.cmd.approvals", body)
    assert answer.get("ok"), answer


async def execution(stack: Stack, execution_id: str) -> dict[str, Any]:
    """The stored execution, once the event store has folded it to a terminal status."""

    async def stored() -> dict[str, Any] | None:
        answer = await request(stack, "jamjet.store.execution", {"execution_id": execution_id})
        found: dict[str, Any] | None = answer.get("execution")
        return found if found and found["status"] in ("completed", "failed", "cancelled") else None

    return await eventually(stored, timeout=30, message="the store never showed the execution finished")
