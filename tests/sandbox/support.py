"""Workflows that ask a worker for something, and what a refusal looks like in the event log."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from services.worker.sandbox.refusal import SCOPE
from tests.e2e.stack import Stack
from tests.executors.fake_http import Reply, Request
from tests.scheduler.builders import workflow

RETRIES = {"max_attempts": 3, "backoff": "fixed", "initial_delay": 0, "max_delay": 0}
"""Retries a refusal must not use."""
MCP_SERVER = {"transport": "stdio", "command": sys.executable, "args": ["-m", "tests.agents.mcp_server"]}


def ok(request: Request) -> Reply:
    return Reply(200, {"ok": True})


def touch_state(path: Path) -> dict[str, Any]:
    """A state that ``subprocess.run(state)`` runs as ``touch <path>`` (a dict's keys are its argv)."""
    return {"touch": 0, str(path): 0}


def one_node(kind: dict[str, Any], wf: str = "wf", **resources: Any) -> dict[str, Any]:
    ir = workflow([{"id": "step", "kind": kind, "retry_policy": "retries"}], [("step", "end")], wf=wf)
    ir["retry_policies"] = {"retries": RETRIES}
    for name, value in resources.items():
        ir[name] = value
    return ir


def python_fn(module: str, function: str) -> dict[str, Any]:
    return one_node({"type": "python_fn", "module": module, "function": function})


def http_tool(url: str, permissions: list[str] | None = None, wf: str = "wf") -> dict[str, Any]:
    tool = {"kind": "http", "reference": url, "permissions": permissions or []}
    return one_node({"type": "tool", "tool_ref": "call"}, wf=wf, tools={"call": tool})


def python_tool(reference: str) -> dict[str, Any]:
    tool = {"kind": "python", "reference": reference}
    return one_node({"type": "tool", "tool_ref": "call"}, tools={"call": tool})


def mcp_tool(
    server: dict[str, Any], tool: str = "add", mapping: dict[str, str] | None = None
) -> dict[str, Any]:
    kind = {"type": "mcp_tool", "server": "tools", "tool": tool, "input_mapping": mapping or {}}
    return one_node(kind, mcp_servers={"tools": server})


async def run_once(stack: Stack, ir: dict[str, Any], data: dict[str, Any] | None = None) -> str:
    await stack.register(ir)
    execution_id = await stack.start(ir["workflow_id"], data or {})
    await stack.all_terminal([execution_id])
    return execution_id


def kinds_of(stack: Stack, execution_id: str, tag: str) -> list[dict[str, Any]]:
    return [e["kind"] for e in stack.recorder.events[execution_id] if e["kind"]["type"] == tag]


def refusal(stack: Stack, execution_id: str, rule: str) -> str:
    """Assert the node was refused once, terminally, with a ``policy_violation``; the error text."""
    violations = kinds_of(stack, execution_id, "policy_violation")
    assert [(v["rule"], v["policy_scope"], v["decision"]) for v in violations] == [(rule, SCOPE, "blocked")]
    failures = kinds_of(stack, execution_id, "node_failed")
    assert [f["retryable"] for f in failures] == [False], failures
    assert len(kinds_of(stack, execution_id, "node_started")) == 1, "a refusal is not retried"
    assert stack.recorder.terminal[execution_id] == "workflow_failed"
    kinds = stack.recorder.kinds(execution_id)
    assert kinds.index("policy_violation") < kinds.index("node_failed")
    return str(failures[0]["error"])
