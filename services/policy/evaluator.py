"""Policy evaluation: the tool and model rules of the policy sets that apply to one node.

Pure functions, no I/O. The semantics are the original runtime's: sets are consulted from the most
specific to the least, and the first rule that fires in the most specific set decides (so a node-level
``require_approval_for`` overrides a workflow-level block). Unlike the original, every node kind that
calls out to something named gets that name checked (MCP tools, Python and Java functions, agent tools).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from jamjet_common.ir import (
    A2aTaskNode,
    AgentNode,
    AgentToolNode,
    JavaFnNode,
    McpToolNode,
    ModelNode,
    NodeDef,
    NodeKind,
    PolicySetIr,
    PythonFnNode,
    ToolNode,
)
from services.policy.glob import first_match, glob_match

Outcome = Literal["allow", "block", "require_approval"]
Scope = Literal["global", "tenant", "workflow", "node"]
HUMAN = "human"


@dataclass(frozen=True, slots=True)
class PolicyDecision:
    """Allow, block (with the reason), or hold for approval (by a human)."""

    outcome: Outcome
    reason: str | None = None
    approver: str | None = None

    @classmethod
    def block(cls, reason: str) -> PolicyDecision:
        return cls("block", reason=reason)

    @classmethod
    def require_approval(cls, approver: str = HUMAN) -> PolicyDecision:
        return cls("require_approval", approver=approver)


ALLOW = PolicyDecision("allow")


@dataclass(frozen=True, slots=True)
class EvaluationContext:
    """What the rules look at: the node's kind tag, the names it calls out to, its model."""

    node_id: str
    node_kind_tag: str
    tool_names: tuple[str, ...] = ()
    """The name policies match against; the first is the canonical one, the others aliases."""
    model_ref: str | None = None

    @property
    def tool_name(self) -> str | None:
        return self.tool_names[0] if self.tool_names else None

    @classmethod
    def from_node(cls, node: NodeDef) -> EvaluationContext:
        model_ref = node.kind.model_ref if isinstance(node.kind, ModelNode) else None
        return cls(node.id, node_kind_tag(node.kind), tool_names(node.kind), model_ref)


@dataclass(frozen=True, slots=True)
class Evaluation:
    decision: PolicyDecision
    policy_scope: Scope | None = None
    """The scope of the set that blocked or required approval; None when allowed."""


def node_kind_tag(kind: NodeKind) -> str:
    """The IR ``type`` tag of a node kind (``model``, ``tool``, ``mcp_tool``, ...)."""
    return kind.tag


def tool_names(kind: NodeKind) -> tuple[str, ...]:
    """The names a node calls out to, canonical name first."""
    match kind:
        case ToolNode(tool_ref=ref) | AgentNode(agent_ref=ref) | A2aTaskNode(skill=ref):
            return (ref,)
        case McpToolNode(server=server, tool=tool):
            # Patterns may name the tool alone or qualified by its server.
            return (f"{server}/{tool}", tool)
        case PythonFnNode(module=module, function=function):
            return (f"{module}.{function}",)
        case JavaFnNode(class_name=class_name, method=method):
            return (f"{class_name}.{method}",)
        case AgentToolNode(agent=agent):
            name = explicit_agent(agent)
            return (name,) if name else ()
    return ()


def explicit_agent(target: object) -> str | None:
    """The agent named by ``{"explicit": "<name>"}``; None for ``"auto"`` (chosen at run time)."""
    if isinstance(target, dict):
        name = target.get("explicit")
        return name if isinstance(name, str) and name else None
    return None


def evaluate(ctx: EvaluationContext, sets: Sequence[tuple[Scope, PolicySetIr]]) -> Evaluation:
    """Evaluate ``sets`` (ordered least to most specific) for ``ctx``; the most specific rule wins."""
    for scope, policy in reversed(sets):
        decision = decide(ctx, policy)
        if decision is None:
            continue
        if decision.outcome == "allow":
            return Evaluation(decision)
        return Evaluation(decision, scope)
    return Evaluation(ALLOW)


def decide(ctx: EvaluationContext, policy: PolicySetIr) -> PolicyDecision | None:
    """What one set says about ``ctx``, or None when none of its rules apply."""
    if ctx.node_kind_tag == "model" and policy.model_allowlist:
        # An allowlist settles the question: less specific sets are not consulted.
        return _allowlist(ctx.model_ref or "", policy.model_allowlist)
    if not ctx.tool_names:
        return None
    blocked = first_match(ctx.tool_names, policy.blocked_tools)
    if blocked is not None:
        name, pattern = blocked
        return PolicyDecision.block(f"tool '{name}' matches blocked pattern '{pattern}'")
    if first_match(ctx.tool_names, policy.require_approval_for) is not None:
        return PolicyDecision.require_approval()
    return None


def _allowlist(model_ref: str, patterns: list[str]) -> PolicyDecision:
    if any(glob_match(pattern, model_ref) for pattern in patterns):
        return ALLOW
    return PolicyDecision.block(f"model '{model_ref}' is not in the allowlist")
