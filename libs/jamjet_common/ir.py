"""The JamJet workflow IR (intermediate representation) as msgspec models.

IR JSON written for the original runtime parses unchanged: field names and the ``type`` tags of node
kinds match it, and unknown fields are ignored.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

JsonObject = dict[str, Any]
END = "end"
"""The sentinel edge/branch target that is not a node."""


class _Model(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Base for IR structs: immutable, keyword-only, defaults omitted on the wire."""


class Duration(_Model, frozen=True):
    """The ``{secs, nanos}`` form the original accepts for durations."""

    secs: int = 0
    nanos: int = 0


DurationValue = float | Duration | None


def duration_seconds(value: DurationValue) -> float | None:
    """Normalise an IR duration (integer seconds or ``{secs, nanos}``) to float seconds."""
    if value is None:
        return None
    if isinstance(value, Duration):
        return value.secs + value.nanos / 1e9
    return float(value)


# ---- policy, budgets, retries, timeouts ------------------------------------------------------------


class PolicySetIr(_Model, frozen=True):
    blocked_tools: list[str] = []
    require_approval_for: list[str] = []
    model_allowlist: list[str] = []


class TokenBudgetIr(_Model, frozen=True):
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None


class DataPolicyIr(_Model, frozen=True):
    pii_fields: list[str] = []
    pii_detectors: list[str] = []
    redaction_mode: str = "mask"
    retain_prompts: bool = False
    retain_outputs: bool = True
    retention_days: int | None = None


BackoffStrategy = Literal["fixed", "linear", "exponential"]
ErrorClass = str | dict[str, str]
"""``io_error|timeout|rate_limit|server_error|connection_reset`` or ``{"custom": "<name>"}``."""


class RetryPolicy(_Model, frozen=True):
    max_attempts: int = 3
    backoff: BackoffStrategy = "exponential"
    initial_delay: float = 1
    max_delay: float = 30
    jitter: bool = False
    retryable_on: list[ErrorClass] = []


class TimeoutConfig(_Model, frozen=True):
    node_timeout: DurationValue = 300
    workflow_timeout: DurationValue = None
    heartbeat_interval: DurationValue = 30
    approval_timeout: DurationValue = None


# ---- external resources ------------------------------------------------------------------------------


class AuthConfig(_Model, tag_field="type", frozen=True):
    pass


class BearerAuth(AuthConfig, tag="bearer", frozen=True):
    token_env: str


class ApiKeyAuth(AuthConfig, tag="api_key", frozen=True):
    header: str
    key_env: str


class OAuth2Auth(AuthConfig, tag="oauth2", frozen=True):
    client_id_env: str
    client_secret_env: str
    token_url: str


Auth = BearerAuth | ApiKeyAuth | OAuth2Auth


class ModelConfig(_Model, frozen=True):
    provider: str
    model: str
    timeout_secs: int | None = None
    retry_policy: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None


class ToolConfig(_Model, frozen=True):
    kind: str
    reference: str
    input_schema: Any = None
    output_schema: Any = None
    permissions: list[str] = []


class McpServerConfig(_Model, frozen=True):
    transport: str
    command: str | None = None
    args: list[str] = []
    url: str | None = None
    auth: Auth | None = None


class RemoteAgentConfig(_Model, frozen=True):
    url: str
    agent_card_path: str | None = None
    auth: Auth | None = None


# ---- node kinds ----------------------------------------------------------------------------------------


class NodeKindBase(_Model, tag_field="type", frozen=True):
    """A node's kind; the ``type`` tag and the queue its work items go to."""

    @property
    def tag(self) -> str:
        return str(self.__struct_config__.tag)

    @property
    def queue_type(self) -> str:
        return QUEUE_BY_TAG.get(self.tag, "general")

    @property
    def held_by_scheduler(self) -> bool:
        """Whether the scheduler resolves this node itself: no worker is ever given it."""
        return self.tag in SCHEDULER_HELD_TAGS


class ModelNode(NodeKindBase, tag="model", frozen=True):
    model_ref: str
    prompt_ref: str | None = None
    output_schema: Any = None
    system_prompt: str | None = None
    tools: list[Any] = []


class ToolNode(NodeKindBase, tag="tool", frozen=True):
    tool_ref: str
    input_mapping: dict[str, Any] = {}
    output_schema: Any = None


class PythonFnNode(NodeKindBase, tag="python_fn", frozen=True):
    module: str
    function: str
    """A name in ``module``, or a dotted path inside it (``Pipeline.extract``)."""
    output_schema: Any = None
    agent_tool_dispatch: bool = False
    """The SDK's agent loop: the node runs the tool calls the model chose (each one a policy subject)."""
    input: Any = None
    """The SDK's descriptor of what the node reads; an agent dispatch takes its ``tools`` map from it."""


class JavaFnNode(NodeKindBase, tag="java_fn", frozen=True):
    class_name: str
    method: str
    output_schema: Any = None


class ConditionalBranch(_Model, frozen=True):
    target: str
    condition: str | None = None


class ConditionNode(NodeKindBase, tag="condition", frozen=True):
    branches: list[ConditionalBranch] = []


class ParallelNode(NodeKindBase, tag="parallel", frozen=True):
    branches: list[str] = []


class JoinNode(NodeKindBase, tag="join", frozen=True):
    wait_for: list[str] = []
    merge_strategy: Any = "collect"


class HumanApprovalNode(NodeKindBase, tag="human_approval", frozen=True):
    description: str = ""
    timeout_secs: int | None = None
    fallback_node: str | None = None


class WaitNode(NodeKindBase, tag="wait", frozen=True):
    condition: Any = None
    correlation_key: str | None = None
    timeout_secs: int | None = None


class SubgraphNode(NodeKindBase, tag="subgraph", frozen=True):
    workflow_ref: str
    workflow_version: str | None = None
    input_mapping: dict[str, Any] = {}
    output_mapping: dict[str, str] = {}


class MemoryRetrievalNode(NodeKindBase, tag="memory_retrieval", frozen=True):
    connector_ref: str
    query_expr: str
    output_schema: Any = None


class PolicyNode(NodeKindBase, tag="policy", frozen=True):
    policy_ref: str
    on_violation: Any = "fail"


class FinalizerNode(NodeKindBase, tag="finalizer", frozen=True):
    tool_ref: str
    run_on: str = "always"


class AgentNode(NodeKindBase, tag="agent", frozen=True):
    agent_ref: str
    input_mapping: dict[str, Any] = {}
    output_schema: Any = None


class McpToolNode(NodeKindBase, tag="mcp_tool", frozen=True):
    server: str
    tool: str
    input_mapping: dict[str, Any] = {}
    output_schema: Any = None


class A2aTaskNode(NodeKindBase, tag="a2a_task", frozen=True):
    remote_agent: str
    skill: str
    input_mapping: dict[str, Any] = {}
    output_schema: Any = None
    stream: bool = False
    on_input_required: Any = None
    timeout_secs: int | None = None


class AgentDiscoveryNode(NodeKindBase, tag="agent_discovery", frozen=True):
    skill: str
    protocol: str | None = None
    output_binding: str = ""


class CoordinatorNode(NodeKindBase, tag="coordinator", frozen=True):
    task: str
    required_skills: list[str] = []
    preferred_skills: list[str] = []
    trust_domain: str | None = None
    budget: Any = None
    tiebreaker: Any = None
    strategy: str = "default"
    weights: Any = None
    input_mapping: dict[str, Any] = {}
    output_key: str = ""


class AgentToolNode(NodeKindBase, tag="agent_tool", frozen=True):
    agent: Any = None
    mode: Any = "sync"
    input_mapping: dict[str, Any] = {}
    output_key: str = ""
    timeout_ms: int | None = None
    budget: Any = None


class EvalNode(NodeKindBase, tag="eval", frozen=True):
    scorers: list[Any] = []
    on_fail: str = "halt"
    max_retries: int = 0
    input_expr: str | None = None


class LimitExceededNode(NodeKindBase, tag="limit_exceeded", frozen=True):
    pass


NodeKind = (
    ModelNode
    | ToolNode
    | PythonFnNode
    | JavaFnNode
    | ConditionNode
    | ParallelNode
    | JoinNode
    | HumanApprovalNode
    | WaitNode
    | SubgraphNode
    | MemoryRetrievalNode
    | PolicyNode
    | FinalizerNode
    | AgentNode
    | McpToolNode
    | A2aTaskNode
    | AgentDiscoveryNode
    | CoordinatorNode
    | AgentToolNode
    | EvalNode
    | LimitExceededNode
)

QUEUE_BY_TAG: dict[str, str] = {
    "model": "model",
    "tool": "tool",
    "python_fn": "python_tool",
    "java_fn": "java_tool",
    "memory_retrieval": "retrieval",
    "finalizer": "tool",
    "mcp_tool": "tool",
    "a2a_task": "tool",
}
SCHEDULER_HELD_TAGS = frozenset({"wait", "human_approval"})
"""Kinds resolved by the scheduler (a signal, a timer, a human's decision), never by a worker."""
QUEUE_TYPES = ("model", "tool", "python_tool", "java_tool", "retrieval", "privileged", "general")


class NodeDef(_Model, frozen=True):
    id: str
    kind: NodeKind
    retry_policy: str | None = None
    node_timeout_secs: int | None = None
    description: str | None = None
    labels: dict[str, str] = {}
    policy: PolicySetIr | None = None
    data_policy: DataPolicyIr | None = None


class EdgeDef(_Model, frozen=True):
    from_: str = msgspec.field(name="from")
    to: str
    condition: str | None = None


class WorkflowIr(_Model, frozen=True):
    workflow_id: str
    version: str
    start_node: str
    nodes: dict[str, NodeDef]
    edges: list[EdgeDef] = []
    name: str | None = None
    description: str | None = None
    state_schema: str = ""
    retry_policies: dict[str, RetryPolicy] = {}
    timeouts: TimeoutConfig = TimeoutConfig()
    models: dict[str, ModelConfig] = {}
    tools: dict[str, ToolConfig] = {}
    mcp_servers: dict[str, McpServerConfig] = {}
    remote_agents: dict[str, RemoteAgentConfig] = {}
    labels: dict[str, str] = {}
    policy: PolicySetIr | None = None
    token_budget: TokenBudgetIr | None = None
    cost_budget_usd: float | None = None
    on_budget_exceeded: str | None = None
    continue_as_new: bool = False
    data_policy: DataPolicyIr | None = None
