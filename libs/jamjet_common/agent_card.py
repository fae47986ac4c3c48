"""The Agent Card: what an agent is, what it can do, and how much it may do on its own.

Field names and values are the original runtime's (aligned with the A2A Agent Card). Unknown fields
are ignored, so cards written for newer versions still register.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

AutonomyLevel = Literal["deterministic", "guided", "bounded_autonomous", "fully_autonomous"]
LatencyClass = Literal["realtime", "fast", "medium", "slow"]
CostClass = Literal["free", "low", "medium", "high"]
Count = Annotated[int, msgspec.Meta(ge=0)]
Usd = Annotated[float, msgspec.Meta(ge=0)]
Uri = Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]

ESCALATION_LABEL = "jamjet.escalation"
"""Label whose value ``approval`` turns an escalation to ``human_approval`` into an approval request."""


class _Card(msgspec.Struct, frozen=True, kw_only=True):
    pass


class Skill(_Card, frozen=True):
    name: str
    description: str = ""
    input_schema: Any = None
    output_schema: Any = None


class AgentCapabilities(_Card, frozen=True):
    skills: list[Skill] = []
    protocols: list[str] = []
    """``mcp_server``, ``mcp_client``, ``a2a``."""
    tools_provided: list[str] = []
    tools_consumed: list[str] = []


class AutonomyConstraints(_Card, frozen=True):
    """Limits of a ``bounded_autonomous`` agent; the last five are kept but not enforced (as the original)."""

    max_iterations: Count | None = None
    max_tool_calls: Count | None = None
    token_budget: Count | None = None
    cost_budget_usd: Usd | None = None
    allowed_tools: list[str] = []
    blocked_tools: list[str] = []
    allowed_delegations: list[str] = []
    require_approval_for: list[str] = []
    time_budget_secs: Count | None = None


class BearerTokenAuth(_Card, frozen=True, tag="bearer_token", tag_field="type"):
    scopes: list[str] = []


class ApiKeyAuth(_Card, frozen=True, tag="api_key", tag_field="type"):
    header: str


class NoAuth(_Card, frozen=True, tag="none", tag_field="type"):
    pass


AuthSpec = BearerTokenAuth | ApiKeyAuth | NoAuth


class AgentCard(_Card, frozen=True):
    uri: Uri
    """Unique in the registry; node ``agent_ref``s name agents by it."""
    name: str
    id: str = ""
    """The card's own identifier (the registry assigns the agent id)."""
    description: str = ""
    version: str = ""
    capabilities: AgentCapabilities = AgentCapabilities()
    autonomy: AutonomyLevel = "guided"
    constraints: AutonomyConstraints | None = None
    auth: AuthSpec = NoAuth()
    latency_class: LatencyClass | None = None
    cost_class: CostClass | None = None
    reasoning_modes: list[str] = []
    labels: dict[str, str] = {}

    def has_skill(self, skill: str) -> bool:
        wanted = skill.casefold()
        return any(s.name.casefold() == wanted for s in self.capabilities.skills)

    def speaks(self, protocol: str) -> bool:
        wanted = protocol.casefold()
        return any(p.casefold() == wanted for p in self.capabilities.protocols)

    @property
    def escalates_to_approval(self) -> bool:
        return self.labels.get(ESCALATION_LABEL) == "approval"
