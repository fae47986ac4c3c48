"""IR JSON in the shapes the original runtime's compilers and fixtures write (reference §2).

Built as plain dicts, the way the original's Rust serde output and Python SDK emit them: ``None``
options as ``null``, every "required by the original" map present, and the extra keys the SDK adds
(``expression``, ``strategy_metadata``, ...) that the runtime ignores.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from jamjet_common import codec
from jamjet_common.ir import WorkflowIr

JsonDict = dict[str, Any]
COST_EXPR = "state.__cost_exceeded__"
TOOL_CALLS_EXPR = 'state.last_model_finish_reason == "tool_calls"'


def decode_ir(ir: JsonDict) -> WorkflowIr:
    return codec.decode(json.dumps(ir).encode(), WorkflowIr, what="workflow IR")


def node(node_id: str, kind: JsonDict, *, retry_policy: str | None = None, **extra: Any) -> JsonDict:
    return {
        "id": node_id,
        "kind": kind,
        "retry_policy": retry_policy,
        "node_timeout_secs": None,
        "description": extra.pop("description", None),
        "labels": extra.pop("labels", {}),
        **extra,
    }


def edge(src: str, dst: str, condition: str | None = None) -> JsonDict:
    return {"from": src, "to": dst, "condition": condition}


def model_kind(model_ref: str, prompt: str = "", tools: list[JsonDict] | None = None) -> JsonDict:
    kind: JsonDict = {
        "type": "model",
        "model_ref": model_ref,
        "prompt_ref": prompt,
        "output_schema": "",
        "system_prompt": None,
    }
    if tools is not None:
        kind["tools"] = tools
    return kind


def workflow(
    workflow_id: str, version: str, start: str, nodes: list[JsonDict], edges: list[JsonDict]
) -> JsonDict:
    return {
        "workflow_id": workflow_id,
        "version": version,
        "name": workflow_id,
        "description": None,
        "state_schema": "",
        "start_node": start,
        "nodes": {n["id"]: n for n in nodes},
        "edges": edges,
        "retry_policies": {},
        "timeouts": {},
        "models": {},
        "tools": {},
        "mcp_servers": {},
        "remote_agents": {},
        "labels": {},
    }


def fleet_researcher_ir() -> JsonDict:
    """A plan-and-execute strategy compile with one step, shaped like ``fleet_researcher_ir.json``."""
    guard = {
        "type": "condition",
        "branches": [
            {"condition": COST_EXPR, "target": "__limit_exceeded__"},
            {"condition": None, "target": "__step_0__"},
        ],
        "expression": f"{COST_EXPR} == true",
    }
    nodes = [
        node("__plan__", model_kind("claude-sonnet-4-6", "Make a plan"), retry_policy="llm_default"),
        node("__cost_guard_0__", guard, labels={"jamjet.strategy.node": "cost_guard"}),
        node("__step_0__", model_kind("claude-sonnet-4-6", "Do step 1"), retry_policy="llm_default"),
        node("__finalize__", model_kind("claude-sonnet-4-6", "Summarise"), retry_policy="llm_default"),
        node(
            "__limit_exceeded__",
            {"type": "limit_exceeded", "description": "Strategy limit reached"},
            description="Strategy limit exceeded \u2014 execution halted",
        ),
    ]
    edges = [
        edge("__plan__", "__cost_guard_0__"),
        edge("__cost_guard_0__", "__limit_exceeded__", f"{COST_EXPR} == true"),
        edge("__cost_guard_0__", "__step_0__"),
        edge("__step_0__", "__finalize__"),
        edge("__finalize__", "end"),
        edge("__limit_exceeded__", "end"),
    ]
    ir = workflow("researcher", "0.1.0", "__plan__", nodes, edges)
    ir["timeouts"] = {"workflow_timeout": 120, "heartbeat_interval": 30}
    ir["labels"] = {"jamjet.strategy": "plan-and-execute", "jamjet.agent.id": "researcher"}
    ir["strategy_metadata"] = {
        "strategy_name": "plan-and-execute",
        "strategy_config": {},
        "limits": {"max_iterations": 4, "max_cost_usd": 0.5, "timeout_seconds": 120},
    }
    return ir


SEARCH_TOOL = {
    "type": "function",
    "function": {"name": "search", "description": "web search", "parameters": {"type": "object"}},
}


def agent_loop_ir(turns: int = 2) -> JsonDict:
    """The statically unrolled model -> gate -> tools loop of the SDK's agent compiler."""
    nodes: list[JsonDict] = []
    edges: list[JsonDict] = []
    for t in range(turns):
        model, gate, tools = f"__model_{t}__", f"__tool_gate_{t}__", f"__tools_{t}__"
        nodes.append(node(model, model_kind("gpt-4o", tools=[SEARCH_TOOL]), retry_policy="llm_default"))
        branches = [{"condition": TOOL_CALLS_EXPR, "target": tools}, {"condition": None, "target": "end"}]
        nodes.append(node(gate, {"type": "condition", "branches": branches, "expression": TOOL_CALLS_EXPR}))
        dispatch = {
            "type": "python_fn",
            "module": "jamjet.agents.tool_runtime",
            "function": "dispatch_tool_calls",
            "output_schema": "",
            "agent_tool_dispatch": True,
            "input": {"messages": "$state.messages", "tools": {"search": "tools:search"}},
        }
        nodes.append(node(tools, dispatch, retry_policy="no_retry"))
        edges += [
            edge(model, gate),
            edge(gate, tools, TOOL_CALLS_EXPR),
            edge(gate, "end"),
            edge(tools, f"__model_{t + 1}__"),
        ]
    final = f"__model_{turns}__"
    nodes.append(node(final, model_kind("gpt-4o", tools=[]), retry_policy="llm_default"))
    edges.append(edge(final, "end"))
    ir = workflow("support-agent", "0.1.0+abc123", "__model_0__", nodes, edges)
    ir["timeouts"] = {"workflow_timeout": None, "heartbeat_interval": 30}
    ir["token_budget"] = {"total_tokens": 50000}
    ir["policy"] = {"blocked_tools": ["rm_*"], "require_approval_for": [], "model_allowlist": []}
    ir["data_policy"] = {
        "pii_fields": [],
        "pii_detectors": ["email", "ssn"],
        "redaction_mode": "mask",
        "retain_prompts": False,
        "retain_outputs": True,
    }
    return ir


EVERY_KIND: dict[str, JsonDict] = {
    "model": {
        "model_ref": "claude-haiku",
        "prompt_ref": None,
        "output_schema": None,
        "system_prompt": "be brief",
        "tools": [SEARCH_TOOL],
    },
    "tool": {"tool_ref": "web_search", "input_mapping": {"q": "state.query"}, "output_schema": None},
    "python_fn": {"module": "acme.fns", "function": "score", "output_schema": {"type": "object"}},
    "java_fn": {"class_name": "com.acme.Tools", "method": "run", "output_schema": None},
    "condition": {
        "branches": [{"condition": "state.ok", "target": "n_parallel"}, {"condition": None, "target": "end"}]
    },
    "parallel": {"branches": ["n_join"]},
    "join": {"wait_for": ["n_parallel"], "merge_strategy": {"custom": {"function_ref": "acme:merge"}}},
    "human_approval": {"description": "approve the refund", "timeout_secs": 3600, "fallback_node": "n_wait"},
    "wait": {
        "condition": {"external_event": {"correlation_key": "order"}},
        "correlation_key": "o-1",
        "timeout_secs": 60,
    },
    "subgraph": {
        "workflow_ref": "child",
        "workflow_version": "1.2.0",
        "input_mapping": {"x": "state.x"},
        "output_mapping": {"y": "result.y"},
    },
    "memory_retrieval": {"connector_ref": "kb", "query_expr": "state.question", "output_schema": None},
    "policy": {"policy_ref": "pii-check", "on_violation": {"branch": {"target": "n_finalizer"}}},
    "finalizer": {"tool_ref": "cleanup", "run_on": "failure"},
    "agent": {
        "agent_ref": "jamjet://agents/reviewer",
        "input_mapping": {"doc": "state.doc"},
        "output_schema": None,
    },
    "mcp_tool": {
        "server": "fs",
        "tool": "read_file",
        "input_mapping": {"path": "state.path"},
        "output_schema": None,
    },
    "a2a_task": {
        "remote_agent": "translator",
        "skill": "translate",
        "input_mapping": {},
        "output_schema": None,
        "stream": True,
        "on_input_required": None,
        "timeout_secs": 30,
    },
    "agent_discovery": {"skill": "summarise", "protocol": "a2a", "output_binding": "agents"},
    "coordinator": {
        "task": "pick a reviewer",
        "required_skills": ["review"],
        "preferred_skills": ["python"],
        "trust_domain": "internal",
        "budget": {"max_cost_usd": 1.0, "max_latency_ms": 5000},
        "tiebreaker": {"model": "claude-haiku", "threshold": 0.1, "max_candidates": 3},
        "strategy": "default",
        "weights": {"capability": 1.0, "cost": 1.0, "latency": 1.0, "trust": 1.0, "history": 1.0},
        "input_mapping": {},
        "output_key": "reviewer",
    },
    "agent_tool": {
        "agent": {"explicit": "reviewer"},
        "mode": {"conversational": {"max_turns": 3}},
        "input_mapping": {"doc": "state.doc"},
        "output_key": "review",
        "timeout_ms": 5000,
        "budget": {"max_cost_usd": 0.5, "max_tokens": 1000},
    },
    "eval": {
        "scorers": [
            {"type": "llm_judge", "model": "claude-haiku", "rubric": "is it right?", "min_score": 3},
            {"type": "assertion", "checks": ["len(output) > 0"]},
            {"type": "latency", "threshold_ms": 2000},
            {"type": "cost", "threshold_usd": 0.05},
            {"type": "custom", "module": "acme.scorers", "kwargs": {"k": 1}},
        ],
        "on_fail": "retry_with_feedback",
        "max_retries": 2,
        "input_expr": "state.answer",
    },
    "limit_exceeded": {},
}
"""Every NodeKind variant of reference §2.4, keyed by its ``type`` tag, with its fields set."""

QUEUE_BY_REFERENCE: dict[str, str] = {
    "model": "model",
    "tool": "tool",
    "python_fn": "python_tool",
    "java_fn": "java_tool",
    "condition": "general",
    "parallel": "general",
    "join": "general",
    "human_approval": "general",
    "wait": "general",
    "subgraph": "general",
    "memory_retrieval": "retrieval",
    "policy": "general",
    "finalizer": "tool",
    "agent": "general",
    "mcp_tool": "tool",
    "a2a_task": "tool",
    "agent_discovery": "general",
    "coordinator": "general",
    "agent_tool": "general",
    "eval": "general",
    "limit_exceeded": "general",
}
"""``queue_type()`` of each kind, as the reference table lists it."""


def every_kind_ir() -> JsonDict:
    """One node of every kind, chained ``n_<tag>`` in table order so that all are reachable."""
    tags = list(EVERY_KIND)
    nodes = [node(f"n_{tag}", {"type": tag, **fields}) for tag, fields in EVERY_KIND.items()]
    edges = [edge(f"n_{a}", f"n_{b}") for a, b in itertools.pairwise(tags)]
    edges.append(edge(f"n_{tags[-1]}", "end"))
    edges.append(edge("n_condition", "end"))
    return workflow("every-kind", "1.0.0", f"n_{tags[0]}", nodes, edges)
