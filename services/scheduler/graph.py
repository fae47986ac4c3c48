"""A registered workflow compiled for scheduling: dependency edges and resolved node settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from jamjet_common.ir import (
    ConditionNode,
    HumanApprovalNode,
    NodeDef,
    RetryPolicy,
    WorkflowIr,
    duration_seconds,
)
from jamjet_common.messages import NodeResources
from jamjet_common.validation import reachable, successors

# The original scheduler maps these names to attempt counts (io_default to 5, not the 3 of its
# constructor); we keep its counts and give each a real backoff.
BUILTIN_RETRY_POLICIES: dict[str, RetryPolicy] = {
    "no_retry": RetryPolicy(max_attempts=1, backoff="fixed", initial_delay=0, max_delay=0),
    "io_default": RetryPolicy(
        max_attempts=5,
        backoff="exponential",
        initial_delay=1,
        max_delay=30,
        jitter=True,
        retryable_on=["io_error", "timeout", "connection_reset"],
    ),
    "llm_default": RetryPolicy(
        max_attempts=3,
        backoff="exponential",
        initial_delay=2,
        max_delay=60,
        jitter=True,
        retryable_on=["rate_limit", "timeout", "server_error"],
    ),
}
DEFAULT_RETRY = RetryPolicy(max_attempts=3, backoff="exponential", initial_delay=1, max_delay=30, jitter=True)


def _agent_name(kind: object) -> str:
    remote = getattr(kind, "remote_agent", None) or getattr(kind, "agent_ref", None)
    if isinstance(remote, str):
        return remote
    agent = getattr(kind, "agent", None)
    if isinstance(agent, dict):
        return str(agent.get("explicit", ""))
    return agent if isinstance(agent, str) else ""


@dataclass(frozen=True, slots=True)
class Graph:
    ir: WorkflowIr
    order: tuple[str, ...]
    """Node ids in declaration order: the deterministic dispatch order."""
    ins: dict[str, tuple[str, ...]]
    outs: dict[str, tuple[str, ...]]
    routed: frozenset[str]
    """Condition nodes with branches: only the chosen out-edge stays live once they complete."""
    reachable: frozenset[str]
    """Nodes an edge path leads to from the start node: the only ones a scheduler ever dispatches."""
    _resources: dict[str, NodeResources | None] = field(default_factory=dict, compare=False, repr=False)
    """Each dispatch's work item carries them: found once per node, not per dispatch."""

    @classmethod
    def compile(cls, ir: WorkflowIr) -> Graph:
        ins: dict[str, list[str]] = {node_id: [] for node_id in ir.nodes}
        outs = successors(ir)
        live = reachable(ir)
        for src, targets in outs.items():
            # An unreachable node never runs: its edges must not hold up the nodes they lead to.
            for dst in targets if src in live else ():
                ins[dst].append(src)
        routed = frozenset(
            node_id
            for node_id, node in ir.nodes.items()
            if isinstance(node.kind, ConditionNode) and node.kind.branches
        )
        return cls(
            ir,
            tuple(ir.nodes),
            {k: tuple(v) for k, v in ins.items()},
            {k: tuple(v) for k, v in outs.items()},
            routed,
            frozenset(live),
        )

    def node(self, node_id: str) -> NodeDef:
        return self.ir.nodes[node_id]

    def retry_policy(self, node_id: str) -> RetryPolicy:
        name = self.ir.nodes[node_id].retry_policy
        if name is None:
            return DEFAULT_RETRY
        return self.ir.retry_policies.get(name) or BUILTIN_RETRY_POLICIES.get(name, DEFAULT_RETRY)

    def resources(self, node_id: str) -> NodeResources | None:
        """The models/tools/MCP servers/remote agents the node references, from the IR's maps."""
        if node_id not in self._resources:
            self._resources[node_id] = self._find_resources(node_id)
        return self._resources[node_id]

    def _find_resources(self, node_id: str) -> NodeResources | None:
        kind = self.ir.nodes[node_id].kind
        found = NodeResources(
            model=self.ir.models.get(getattr(kind, "model_ref", "")),
            tool=self.ir.tools.get(getattr(kind, "tool_ref", "")),
            mcp_server=self.ir.mcp_servers.get(getattr(kind, "server", "")),
            remote_agent=self.ir.remote_agents.get(_agent_name(kind)),
        )
        return None if found == NodeResources() else found

    @property
    def workflow_timeout_secs(self) -> float | None:
        return duration_seconds(self.ir.timeouts.workflow_timeout)

    def approval_timeout_secs(self, node_id: str) -> float | None:
        kind = self.ir.nodes[node_id].kind
        if isinstance(kind, HumanApprovalNode) and kind.timeout_secs is not None:
            return float(kind.timeout_secs)
        return duration_seconds(self.ir.timeouts.approval_timeout)

    def timeout_secs(self, node_id: str) -> float | None:
        explicit = self.ir.nodes[node_id].node_timeout_secs
        if explicit is not None:
            return float(explicit)
        return duration_seconds(self.ir.timeouts.node_timeout)
