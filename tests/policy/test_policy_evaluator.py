"""Policy evaluation: the original runtime's semantics, plus names for every kind that calls out."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from jamjet_common.ir import NodeDef, PolicySetIr
from services.policy.evaluator import (
    ALLOW,
    EvaluationContext,
    PolicyDecision,
    Scope,
    evaluate,
    node_kind_tag,
)


def node(kind: dict[str, Any], node_id: str = "n1") -> NodeDef:
    return msgspec.convert({"id": node_id, "kind": kind}, NodeDef)


def ctx(kind: dict[str, Any]) -> EvaluationContext:
    return EvaluationContext.from_node(node(kind))


def policy(
    blocked: list[str] | None = None,
    approval: list[str] | None = None,
    models: list[str] | None = None,
) -> PolicySetIr:
    return PolicySetIr(
        blocked_tools=blocked or [], require_approval_for=approval or [], model_allowlist=models or []
    )


TOOL = {"type": "tool", "tool_ref": "delete_file"}
MODEL = {"type": "model", "model_ref": "gpt-4o"}
BLOCK_DELETE = PolicyDecision.block("tool 'delete_file' matches blocked pattern 'delete_*'")


# ---- name extraction -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "names"),
    [
        ({"type": "tool", "tool_ref": "web_search"}, ("web_search",)),
        ({"type": "mcp_tool", "server": "fs", "tool": "delete"}, ("fs/delete", "delete")),
        ({"type": "a2a_task", "remote_agent": "billing", "skill": "refund"}, ("refund",)),
        ({"type": "agent", "agent_ref": "researcher"}, ("researcher",)),
        ({"type": "python_fn", "module": "tools.files", "function": "rm"}, ("tools.files.rm",)),
        ({"type": "java_fn", "class_name": "com.acme.Files", "method": "rm"}, ("com.acme.Files.rm",)),
        ({"type": "agent_tool", "agent": {"explicit": "summarizer"}}, ("summarizer",)),
        ({"type": "agent_tool", "agent": "auto"}, ()),
        ({"type": "model", "model_ref": "gpt-4o"}, ()),
        ({"type": "condition", "branches": []}, ()),
        ({"type": "human_approval", "description": "check"}, ()),
    ],
)
def test_names_by_node_kind(kind: dict[str, Any], names: tuple[str, ...]) -> None:
    context = ctx(kind)
    assert context.tool_names == names
    assert context.tool_name == (names[0] if names else None)
    assert context.node_kind_tag == kind["type"]


def test_model_ref_only_for_model_nodes() -> None:
    assert ctx(MODEL).model_ref == "gpt-4o"
    assert ctx(TOOL).model_ref is None


@pytest.mark.parametrize(
    "tag",
    ["model", "tool", "python_fn", "java_fn", "condition", "mcp_tool", "a2a_task", "agent_tool", "eval"],
)
def test_node_kind_tag_is_the_ir_type_tag(tag: str) -> None:
    kinds: dict[str, dict[str, Any]] = {
        "model": MODEL,
        "tool": TOOL,
        "python_fn": {"module": "m", "function": "f"},
        "java_fn": {"class_name": "C", "method": "m"},
        "condition": {},
        "mcp_tool": {"server": "s", "tool": "t"},
        "a2a_task": {"remote_agent": "r", "skill": "s"},
        "agent_tool": {"agent": "auto"},
        "eval": {},
    }
    assert node_kind_tag(node({**kinds[tag], "type": tag}).kind) == tag


@pytest.mark.parametrize(
    ("kind", "pattern"),
    [
        ({"type": "mcp_tool", "server": "fs", "tool": "delete"}, "fs/*"),
        ({"type": "mcp_tool", "server": "fs", "tool": "delete"}, "delete"),
        ({"type": "python_fn", "module": "tools.files", "function": "rm"}, "tools.files.*"),
        ({"type": "java_fn", "class_name": "com.acme.Files", "method": "rm"}, "*.rm"),
        ({"type": "agent_tool", "agent": {"explicit": "summarizer"}}, "summ?rizer"),
        ({"type": "a2a_task", "remote_agent": "billing", "skill": "refund"}, "refund"),
        ({"type": "agent", "agent_ref": "researcher"}, "research*"),
    ],
)
def test_kinds_the_original_never_checked_can_be_blocked(kind: dict[str, Any], pattern: str) -> None:
    result = evaluate(ctx(kind), [("workflow", policy(blocked=[pattern]))])
    assert result.decision.outcome == "block"
    assert f"matches blocked pattern '{pattern}'" in (result.decision.reason or "")
    assert result.policy_scope == "workflow"


def test_mcp_block_reason_names_the_name_that_matched() -> None:
    mcp = ctx({"type": "mcp_tool", "server": "fs", "tool": "delete"})
    by_server = evaluate(mcp, [("node", policy(blocked=["fs/*"]))])
    by_tool = evaluate(mcp, [("node", policy(blocked=["delete"]))])
    assert by_server.decision.reason == "tool 'fs/delete' matches blocked pattern 'fs/*'"
    assert by_tool.decision.reason == "tool 'delete' matches blocked pattern 'delete'"


def test_auto_agent_tool_has_no_name_to_match() -> None:
    result = evaluate(ctx({"type": "agent_tool", "agent": "auto"}), [("workflow", policy(blocked=["*"]))])
    assert result.decision == ALLOW


# ---- rules of one set ---------------------------------------------------------------------------------


def test_no_sets_allows() -> None:
    assert evaluate(ctx(TOOL), []).decision == ALLOW


def test_blocked_tool_blocks_with_reason() -> None:
    result = evaluate(ctx(TOOL), [("workflow", policy(blocked=["web_*", "delete_*"]))])
    assert result.decision == BLOCK_DELETE
    assert result.policy_scope == "workflow"


def test_block_beats_approval_within_one_set() -> None:
    result = evaluate(ctx(TOOL), [("node", policy(blocked=["delete_*"], approval=["delete_file"]))])
    assert result.decision == BLOCK_DELETE


def test_require_approval_is_for_a_human() -> None:
    result = evaluate(ctx(TOOL), [("tenant", policy(approval=["delete_?ile"]))])
    assert result.decision == PolicyDecision("require_approval", approver="human")
    assert result.policy_scope == "tenant"


def test_question_mark_needs_exactly_one_character() -> None:
    assert evaluate(ctx(TOOL), [("node", policy(blocked=["delete_?"]))]).decision == ALLOW
    assert evaluate(ctx(TOOL), [("node", policy(blocked=["delete_*"]))]).decision.outcome == "block"
    assert evaluate(ctx(TOOL), [("node", policy(blocked=["delete_fil?"]))]).decision.outcome == "block"


def test_unmatched_patterns_allow() -> None:
    result = evaluate(ctx(TOOL), [("node", policy(blocked=["rm"], approval=["drop_*"]))])
    assert result == evaluate(ctx(TOOL), [])
    assert result.policy_scope is None


def test_tool_rules_do_not_apply_to_model_nodes() -> None:
    result = evaluate(ctx(MODEL), [("workflow", policy(blocked=["*"], approval=["*"]))])
    assert result.decision == ALLOW


def test_model_allowlist_blocks_unlisted_model() -> None:
    result = evaluate(ctx(MODEL), [("workflow", policy(models=["claude-*", "gpt-3.5-turbo"]))])
    assert result.decision == PolicyDecision.block("model 'gpt-4o' is not in the allowlist")
    assert result.policy_scope == "workflow"


def test_model_allowlist_allows_listed_model() -> None:
    assert evaluate(ctx(MODEL), [("workflow", policy(models=["gpt-4?"]))]).decision == ALLOW


def test_model_allowlist_does_not_apply_to_tools() -> None:
    assert evaluate(ctx(TOOL), [("workflow", policy(models=["claude-*"]))]).decision == ALLOW


# ---- several sets: the most specific decides -------------------------------------------------------------


def test_node_approval_overrides_workflow_block() -> None:
    sets: list[tuple[Scope, PolicySetIr]] = [
        ("workflow", policy(blocked=["delete_*"])),
        ("node", policy(approval=["delete_file"])),
    ]
    result = evaluate(ctx(TOOL), sets)
    assert result.decision == PolicyDecision.require_approval()
    assert result.policy_scope == "node"


def test_less_specific_set_decides_when_more_specific_sets_say_nothing() -> None:
    sets: list[tuple[Scope, PolicySetIr]] = [
        ("global", policy(approval=["*"])),
        ("tenant", policy(blocked=["delete_*"])),
        ("workflow", policy(approval=["web_*"])),
        ("node", policy()),
    ]
    result = evaluate(ctx(TOOL), sets)
    assert result.decision == BLOCK_DELETE
    assert result.policy_scope == "tenant"


def test_global_scope_is_reported() -> None:
    sets: list[tuple[Scope, PolicySetIr]] = [("global", policy(approval=["*"])), ("node", policy())]
    assert evaluate(ctx(TOOL), sets).policy_scope == "global"


def test_allowlisted_model_short_circuits_less_specific_sets() -> None:
    sets: list[tuple[Scope, PolicySetIr]] = [
        ("tenant", policy(models=["claude-*"])),
        ("node", policy(models=["gpt-*"])),
    ]
    result = evaluate(ctx(MODEL), sets)
    assert result.decision == ALLOW
    assert result.policy_scope is None


def test_more_specific_allowlist_blocks_despite_broader_one() -> None:
    sets: list[tuple[Scope, PolicySetIr]] = [
        ("tenant", policy(models=["*"])),
        ("workflow", policy(models=["claude-*"])),
    ]
    result = evaluate(ctx(MODEL), sets)
    assert result.decision == PolicyDecision.block("model 'gpt-4o' is not in the allowlist")
    assert result.policy_scope == "workflow"


def test_empty_allowlist_defers_to_less_specific_set() -> None:
    sets: list[tuple[Scope, PolicySetIr]] = [
        ("tenant", policy(models=["claude-*"])),
        ("node", policy(blocked=["gpt-4o"])),
    ]
    result = evaluate(ctx(MODEL), sets)
    assert result.decision.outcome == "block"
    assert result.policy_scope == "tenant"
