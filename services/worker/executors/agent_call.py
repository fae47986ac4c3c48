"""What one agent_tool node asks for, read from its IR: target URL, mode, budget, timeout, input."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeGuard

from jamjet_common.errors import FatalError
from jamjet_common.ir import AgentToolNode, RemoteAgentConfig
from services.worker.executors.base import ExecutionContext
from services.worker.executors.remote_auth import auth_headers
from services.worker.executors.state_mapping import map_input

DEFAULT_MAX_TURNS = 5
URL_SCHEMES = ("http://", "https://")
STATE_REF = "state."
ModeKind = Literal["sync", "streaming", "conversational"]


@dataclass(frozen=True, slots=True)
class AgentMode:
    kind: ModeKind = "sync"
    max_turns: int = DEFAULT_MAX_TURNS
    max_tokens_per_turn: int | None = None


@dataclass(frozen=True, slots=True)
class Budget:
    max_cost_usd: float | None = None
    max_tokens: int | None = None

    def exceeded(self, cost: float, tokens: int) -> bool:
        over_cost = self.max_cost_usd is not None and cost > self.max_cost_usd
        return over_cost or (self.max_tokens is not None and tokens > self.max_tokens)


@dataclass(frozen=True, slots=True)
class AgentCall:
    url: str
    headers: dict[str, str]
    input: dict[str, Any]
    mode: AgentMode
    budget: Budget
    timeout_secs: float
    """Sync and conversational: per request. Streaming: the longest wait for the next chunk."""
    output_key: str


@dataclass(frozen=True, slots=True)
class AgentOutcome:
    output: Any
    cost: float = 0.0
    tokens: int = 0


def usage(message: Any) -> tuple[float, int]:
    """What a chunk or reply says it cost: ``cost`` (or ``cost_usd``) in USD, and ``tokens``."""
    if not isinstance(message, dict):
        return 0.0, 0
    cost = message.get("cost", message.get("cost_usd"))
    tokens = message.get("tokens")
    return (
        float(cost) if _is_number(cost) else 0.0,
        int(tokens) if _is_number(tokens) else 0,
    )


def agent_call(ctx: ExecutionContext, default_timeout_secs: float) -> AgentCall:
    node = ctx.node.kind
    if not isinstance(node, AgentToolNode):
        raise FatalError(f"agent_tool executor cannot run a '{node.tag}' node")
    remote = ctx.item.resources.remote_agent if ctx.item.resources else None
    return AgentCall(
        url=target_url(chosen_agent(node.agent, ctx.state), remote),
        headers=auth_headers(remote.auth if remote else None),
        input=map_input(node.input_mapping, ctx.state) if node.input_mapping else dict(ctx.state),
        mode=parse_mode(node.mode),
        budget=parse_budget(node.budget),
        timeout_secs=node.timeout_ms / 1000 if node.timeout_ms else default_timeout_secs,
        output_key=node.output_key,
    )


def chosen_agent(agent: Any, state: dict[str, Any]) -> Any:
    """``state.<key>``: the agent a coordinator chose (the SDK expands ``agent="auto"`` so)."""
    name = agent.get("explicit") if isinstance(agent, dict) else agent
    if not isinstance(name, str) or not name.startswith(STATE_REF):
        return agent
    chosen = state.get(name.removeprefix(STATE_REF))
    if not isinstance(chosen, str) or not chosen:
        raise FatalError(f"agent_tool: {name} names no agent (the state holds {chosen!r} there)")
    return chosen


def target_url(agent: Any, remote: RemoteAgentConfig | None) -> str:
    """The scheduler resolves a named agent from the IR's ``remote_agents``; else the name is a URL."""
    if agent == "auto" or (isinstance(agent, dict) and "auto" in agent):
        raise FatalError("agent_tool: agent discovery ('auto') is not supported; name an explicit agent")
    if remote is not None:
        return remote.url
    name = agent.get("explicit") if isinstance(agent, dict) else agent
    if isinstance(name, str) and name.startswith(URL_SCHEMES):
        return name
    raise FatalError(f"agent_tool: agent {name!r} is neither in the IR's remote_agents nor an http(s) URL")


def parse_mode(mode: Any) -> AgentMode:
    if mode in ("sync", "streaming", "conversational", None):
        return AgentMode(kind=mode or "sync")
    settings = mode.get("conversational") if isinstance(mode, dict) else None
    if not isinstance(settings, dict):
        raise FatalError(f"agent_tool: unknown mode {mode!r} (sync, streaming or {{'conversational': ...}})")
    return AgentMode(
        kind="conversational",
        max_turns=_count(settings.get("max_turns", DEFAULT_MAX_TURNS), "max_turns"),
        max_tokens_per_turn=_optional_count(settings.get("max_tokens_per_turn"), "max_tokens_per_turn"),
    )


def parse_budget(budget: Any) -> Budget:
    if budget is None:
        return Budget()
    if not isinstance(budget, dict):
        raise FatalError(f"agent_tool: budget must be an object, not {budget!r}")
    cost = budget.get("max_cost_usd")
    if cost is not None and not _is_number(cost):
        raise FatalError(f"agent_tool: budget.max_cost_usd must be a number, not {cost!r}")
    return Budget(
        max_cost_usd=float(cost) if cost is not None else None,
        max_tokens=_optional_count(budget.get("max_tokens"), "budget.max_tokens"),
    )


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _optional_count(value: Any, name: str) -> int | None:
    return None if value is None else _count(value, name)


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise FatalError(f"agent_tool: {name} must be a positive integer, not {value!r}")
    return value
