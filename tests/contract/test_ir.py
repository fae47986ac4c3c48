"""IR JSON written for the original runtime parses unchanged (reference §2)."""

from __future__ import annotations

import json
import typing
from typing import Any

import msgspec
import pytest

from jamjet_common import codec, ir
from jamjet_common.errors import ContractError
from jamjet_common.validation import validate_workflow
from tests.contract.samples import (
    COST_EXPR,
    EVERY_KIND,
    QUEUE_BY_REFERENCE,
    TOOL_CALLS_EXPR,
    agent_loop_ir,
    decode_ir,
    every_kind_ir,
    fleet_researcher_ir,
)

# ---- the fleet-researcher (plan-and-execute) compile -------------------------------------------------


def test_fleet_researcher_ir_decodes_with_its_nodes_and_retry_policies() -> None:
    wf = decode_ir(fleet_researcher_ir())
    assert wf.workflow_id == "researcher"
    assert wf.start_node == "__plan__"
    assert set(wf.nodes) == {
        "__plan__",
        "__cost_guard_0__",
        "__step_0__",
        "__finalize__",
        "__limit_exceeded__",
    }
    plan = wf.nodes["__plan__"]
    assert isinstance(plan.kind, ir.ModelNode)
    assert plan.kind.model_ref == "claude-sonnet-4-6"
    assert plan.retry_policy == "llm_default"
    assert isinstance(wf.nodes["__limit_exceeded__"].kind, ir.LimitExceededNode)
    assert wf.labels["jamjet.strategy"] == "plan-and-execute"


def test_fleet_researcher_cost_guard_keeps_branch_order_and_null_default() -> None:
    guard = decode_ir(fleet_researcher_ir()).nodes["__cost_guard_0__"].kind
    assert isinstance(guard, ir.ConditionNode)
    assert guard.branches == [
        ir.ConditionalBranch(condition=COST_EXPR, target="__limit_exceeded__"),
        ir.ConditionalBranch(condition=None, target="__step_0__"),
    ]


def test_fleet_researcher_timeouts_and_defaults() -> None:
    timeouts = decode_ir(fleet_researcher_ir()).timeouts
    assert ir.duration_seconds(timeouts.workflow_timeout) == 120.0
    assert ir.duration_seconds(timeouts.heartbeat_interval) == 30.0
    assert ir.duration_seconds(timeouts.node_timeout) == 300.0, "node_timeout defaults to 300 s"
    assert timeouts.approval_timeout is None


def test_unknown_top_level_strategy_metadata_is_ignored() -> None:
    raw = fleet_researcher_ir()
    assert "strategy_metadata" in raw
    wf = decode_ir(raw)
    assert "strategy_metadata" not in json.loads(codec.encode(wf))
    without = {k: v for k, v in raw.items() if k != "strategy_metadata"}
    assert decode_ir(without) == wf


def test_fleet_researcher_ir_is_a_valid_workflow() -> None:
    validate_workflow(decode_ir(fleet_researcher_ir()))


# ---- the agent loop -----------------------------------------------------------------------------------


def test_agent_loop_ir_decodes_model_gate_and_dispatch() -> None:
    wf = decode_ir(agent_loop_ir(turns=2))
    assert wf.version == "0.1.0+abc123"
    model = wf.nodes["__model_0__"].kind
    assert isinstance(model, ir.ModelNode)
    assert model.tools[0]["function"]["name"] == "search"
    gate = wf.nodes["__tool_gate_0__"].kind
    assert isinstance(gate, ir.ConditionNode)
    assert [(b.condition, b.target) for b in gate.branches] == [
        (TOOL_CALLS_EXPR, "__tools_0__"),
        (None, "end"),
    ]
    dispatch = wf.nodes["__tools_0__"]
    assert isinstance(dispatch.kind, ir.PythonFnNode)
    assert (dispatch.kind.module, dispatch.kind.function) == (
        "jamjet.agents.tool_runtime",
        "dispatch_tool_calls",
    )
    assert dispatch.retry_policy == "no_retry"
    final = wf.nodes["__model_2__"].kind
    assert isinstance(final, ir.ModelNode) and final.tools == []


def test_agent_loop_governance_fields_decode() -> None:
    wf = decode_ir(agent_loop_ir())
    assert wf.token_budget == ir.TokenBudgetIr(total_tokens=50000)
    assert wf.policy is not None and wf.policy.blocked_tools == ["rm_*"]
    assert wf.data_policy is not None and wf.data_policy.pii_detectors == ["email", "ssn"]
    assert wf.timeouts.workflow_timeout is None


def test_agent_loop_ir_is_a_valid_workflow() -> None:
    validate_workflow(decode_ir(agent_loop_ir(turns=3)))


# ---- every node kind ----------------------------------------------------------------------------------

KIND_CLASSES: dict[str, type[ir.NodeKindBase]] = {
    "model": ir.ModelNode,
    "tool": ir.ToolNode,
    "python_fn": ir.PythonFnNode,
    "java_fn": ir.JavaFnNode,
    "condition": ir.ConditionNode,
    "parallel": ir.ParallelNode,
    "join": ir.JoinNode,
    "human_approval": ir.HumanApprovalNode,
    "wait": ir.WaitNode,
    "subgraph": ir.SubgraphNode,
    "memory_retrieval": ir.MemoryRetrievalNode,
    "policy": ir.PolicyNode,
    "finalizer": ir.FinalizerNode,
    "agent": ir.AgentNode,
    "mcp_tool": ir.McpToolNode,
    "a2a_task": ir.A2aTaskNode,
    "agent_discovery": ir.AgentDiscoveryNode,
    "coordinator": ir.CoordinatorNode,
    "agent_tool": ir.AgentToolNode,
    "eval": ir.EvalNode,
    "limit_exceeded": ir.LimitExceededNode,
}


def test_the_node_kind_union_has_exactly_the_reference_variants() -> None:
    tags = {cls.__struct_config__.tag for cls in typing.get_args(ir.NodeKind)}
    assert tags == set(QUEUE_BY_REFERENCE) == set(EVERY_KIND) == set(KIND_CLASSES)


@pytest.fixture(scope="module")
def every_kind() -> ir.WorkflowIr:
    return decode_ir(every_kind_ir())


@pytest.mark.parametrize("tag", list(EVERY_KIND))
def test_every_kind_decodes_to_its_class_with_every_field(every_kind: ir.WorkflowIr, tag: str) -> None:
    kind = every_kind.nodes[f"n_{tag}"].kind
    assert type(kind) is KIND_CLASSES[tag]
    assert kind.tag == tag
    types = {f.name: f.type for f in msgspec.structs.fields(kind)}
    for field, value in EVERY_KIND[tag].items():
        assert getattr(kind, field) == msgspec.convert(value, types[field]), f"{tag}.{field}"


@pytest.mark.parametrize("tag", list(EVERY_KIND))
def test_queue_type_matches_the_reference_table(every_kind: ir.WorkflowIr, tag: str) -> None:
    queue = every_kind.nodes[f"n_{tag}"].kind.queue_type
    assert queue == QUEUE_BY_REFERENCE[tag]
    assert queue in ir.QUEUE_TYPES


def test_agent_tool_targets_and_modes_keep_their_original_shapes(every_kind: ir.WorkflowIr) -> None:
    kind = every_kind.nodes["n_agent_tool"].kind
    assert isinstance(kind, ir.AgentToolNode)
    assert kind.agent == {"explicit": "reviewer"}
    assert kind.mode == {"conversational": {"max_turns": 3}}
    default = decode_ir(_single_node({"type": "agent_tool", "agent": "auto"})).nodes["a"].kind
    assert isinstance(default, ir.AgentToolNode)
    assert (default.agent, default.mode) == ("auto", "sync")


def test_eval_scorers_keep_their_type_tags(every_kind: ir.WorkflowIr) -> None:
    kind = every_kind.nodes["n_eval"].kind
    assert isinstance(kind, ir.EvalNode)
    assert [s["type"] for s in kind.scorers] == ["llm_judge", "assertion", "latency", "cost", "custom"]
    assert (kind.on_fail, kind.max_retries) == ("retry_with_feedback", 2)


def test_every_kind_ir_is_a_valid_workflow(every_kind: ir.WorkflowIr) -> None:
    validate_workflow(every_kind)


def test_every_kind_ir_round_trips_through_our_encoder(every_kind: ir.WorkflowIr) -> None:
    again = codec.decode(codec.encode(every_kind), ir.WorkflowIr)
    assert again == every_kind


def test_kind_defaults_match_the_reference() -> None:
    wf = decode_ir(_single_node({"type": "eval"}))
    kind = wf.nodes["a"].kind
    assert isinstance(kind, ir.EvalNode)
    assert (kind.on_fail, kind.max_retries, kind.input_expr) == ("halt", 0, None)
    coord = decode_ir(_single_node({"type": "coordinator", "task": "t"})).nodes["a"].kind
    assert isinstance(coord, ir.CoordinatorNode)
    assert coord.strategy == "default"


# ---- the maps the original requires -------------------------------------------------------------------

RESOURCES: dict[str, Any] = {
    "retry_policies": {
        "careful": {
            "max_attempts": 5,
            "backoff": "linear",
            "initial_delay": 2,
            "max_delay": 60,
            "jitter": True,
            "retryable_on": ["rate_limit", "timeout", {"custom": "flaky_upstream"}],
        }
    },
    "models": {
        "fast": {
            "provider": "anthropic",
            "model": "claude-haiku",
            "timeout_secs": 30,
            "retry_policy": "careful",
            "temperature": 0.2,
            "max_tokens": 512,
        }
    },
    "tools": {
        "web_search": {
            "kind": "python",
            "reference": "acme.tools:search",
            "input_schema": {"type": "object"},
            "output_schema": None,
            "permissions": ["net"],
        }
    },
    "mcp_servers": {
        "fs": {
            "transport": "stdio",
            "command": "mcp-fs",
            "args": ["--root", "/tmp"],
            "url": None,
            "auth": None,
        },
        "remote": {
            "transport": "http_sse",
            "url": "https://mcp.example/sse",
            "args": [],
            "auth": {"type": "bearer", "token_env": "MCP_TOKEN"},
        },
    },
    "remote_agents": {
        "translator": {
            "url": "https://agents.example",
            "agent_card_path": "/.well-known/agent.json",
            "auth": {
                "type": "oauth2",
                "client_id_env": "ID",
                "client_secret_env": "SECRET",
                "token_url": "u",
            },
        },
        "keyed": {"url": "https://k.example", "auth": {"type": "api_key", "header": "X-Key", "key_env": "K"}},
    },
    "state_schema": '{"query": "str"}',
}


def test_required_by_original_maps_are_accepted_with_content() -> None:
    wf = decode_ir({**_single_node({"type": "tool", "tool_ref": "web_search"}), **RESOURCES})
    careful = wf.retry_policies["careful"]
    assert (careful.max_attempts, careful.backoff, careful.jitter) == (5, "linear", True)
    assert careful.retryable_on == ["rate_limit", "timeout", {"custom": "flaky_upstream"}]
    assert wf.models["fast"].retry_policy == "careful"
    assert wf.tools["web_search"].permissions == ["net"]
    assert wf.mcp_servers["fs"].args == ["--root", "/tmp"]
    assert wf.mcp_servers["remote"].auth == ir.BearerAuth(token_env="MCP_TOKEN")
    assert isinstance(wf.remote_agents["translator"].auth, ir.OAuth2Auth)
    assert wf.remote_agents["keyed"].auth == ir.ApiKeyAuth(header="X-Key", key_env="K")
    assert wf.state_schema == '{"query": "str"}'


def test_the_required_maps_may_also_be_left_out() -> None:
    raw = _single_node({"type": "tool", "tool_ref": "t"})
    for key in (
        "retry_policies",
        "models",
        "tools",
        "mcp_servers",
        "remote_agents",
        "state_schema",
        "timeouts",
    ):
        raw.pop(key)
    wf = decode_ir(raw)
    assert (wf.retry_policies, wf.models, wf.tools, wf.state_schema) == ({}, {}, {}, "")


# ---- durations -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "seconds"),
    [
        (30, 30.0),
        (2.5, 2.5),
        ({"secs": 30, "nanos": 0}, 30.0),
        ({"secs": 1, "nanos": 500_000_000}, 1.5),
        ({"secs": 7}, 7.0),
        (None, None),
    ],
)
def test_durations_in_both_forms_normalise(wire: Any, seconds: float | None) -> None:
    raw = _single_node({"type": "tool", "tool_ref": "t"})
    raw["timeouts"] = {"node_timeout": wire, "heartbeat_interval": wire, "workflow_timeout": wire}
    timeouts = decode_ir(raw).timeouts
    for value in (timeouts.node_timeout, timeouts.heartbeat_interval, timeouts.workflow_timeout):
        assert ir.duration_seconds(value) == seconds


def test_a_duration_of_the_wrong_shape_is_refused() -> None:
    raw = _single_node({"type": "tool", "tool_ref": "t"})
    raw["timeouts"] = {"node_timeout": "30s"}
    with pytest.raises(ContractError, match=r"\$\.timeouts\.node_timeout"):
        decode_ir(raw)


# ---- unknown and wrong input ----------------------------------------------------------------------------


def test_unknown_fields_inside_nodes_and_kinds_are_ignored() -> None:
    raw = _single_node({"type": "tool", "tool_ref": "t", "expression": "x", "added_in_v9": {"a": 1}})
    raw["nodes"]["a"]["future_field"] = [1, 2]
    raw["edges"][0]["weight"] = 3
    wf = decode_ir(raw)
    kind = wf.nodes["a"].kind
    assert kind == ir.ToolNode(tool_ref="t")
    assert wf.edges == [ir.EdgeDef(from_="a", to="end")]


def test_an_edge_encodes_its_source_as_from() -> None:
    assert json.loads(codec.encode(ir.EdgeDef(from_="a", to="end"))) == {"from": "a", "to": "end"}


def test_an_unknown_node_type_fails_naming_the_value_and_its_path() -> None:
    raw = _single_node({"type": "teleport", "destination": "mars"})
    with pytest.raises(ContractError) as caught:
        codec.decode(json.dumps(raw).encode(), ir.WorkflowIr, what="workflow IR")
    assert caught.value.code == "invalid_request"
    message = str(caught.value)
    assert "teleport" in message
    # msgspec shows map keys as [...]; the path still says which field of which part is wrong.
    assert "$.nodes[...].kind.type" in message
    assert message.startswith("invalid workflow IR")


def test_a_kind_without_type_fails_naming_the_missing_tag() -> None:
    raw = _single_node({"tool_ref": "t"})
    with pytest.raises(
        ContractError, match=r"missing required field `type` - at `\$\.nodes\[\.\.\.\]\.kind`"
    ):
        decode_ir(raw)


def test_a_kind_missing_a_required_field_fails_naming_it() -> None:
    raw = _single_node({"type": "model"})
    with pytest.raises(ContractError, match=r"missing required field `model_ref`"):
        decode_ir(raw)


def _single_node(kind: dict[str, Any]) -> dict[str, Any]:
    return {
        "workflow_id": "one",
        "version": "1.0.0",
        "state_schema": "",
        "start_node": "a",
        "nodes": {"a": {"id": "a", "kind": kind}},
        "edges": [{"from": "a", "to": "end"}],
        "retry_policies": {},
        "timeouts": {},
        "models": {},
        "tools": {},
        "mcp_servers": {},
        "remote_agents": {},
    }
