"""agent_tool ``sync`` and ``conversational`` modes, target resolution and failures, against a real agent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from jamjet_common.errors import FatalError, JamjetError, RetryableError
from jamjet_common.ir import BearerAuth, RemoteAgentConfig
from services.worker.executors.agent_tool import AgentToolExecutor
from tests.agents.builders import agent_node, context
from tests.agents.fake_agent import FakeAgent, Reply, Request


def remote(agent: FakeAgent, path: str = "/agent", **extra: Any) -> RemoteAgentConfig:
    return RemoteAgentConfig(url=agent.url(path), **extra)


async def test_sync_posts_the_mapped_input_and_returns_the_answer(
    executor: AgentToolExecutor, agent: FakeAgent, subscribe: Callable[[str], Any]
) -> None:
    agent.routes["/agent"] = lambda request: Reply(body={"answer": 42, "cost": 0.5})
    node = agent_node(agent={"explicit": "oracle"}, input_mapping={"q": "state.question"}, output_key="reply")
    earlier = {"type": "agent_tool_completed", "node_id": "before"}
    ctx = context(node, {"question": "why?", "agent_tool_events": [earlier]}, remote_agent=remote(agent))
    received = await subscribe(ctx.item.execution_id)

    result = await executor.execute(ctx)

    assert agent.requests[0].body == {"input": {"q": "why?"}}
    assert result.output == {"answer": 42, "cost": 0.5}
    assert result.cost_usd == 0.5
    events = result.state_patch["agent_tool_events"]
    assert events[0] == earlier, "events of earlier agent_tool nodes are kept"
    assert [e["type"] for e in events[1:]] == ["agent_tool_invoked", "agent_tool_completed"]
    assert events[1]["mode"] == "sync" and events[2]["output"] == result.output
    assert result.state_patch["reply"] == result.output
    assert await received.until("agent_tool_completed") == events[1:]


async def test_an_explicit_url_needs_no_remote_agents_entry(
    executor: AgentToolExecutor, agent: FakeAgent
) -> None:
    agent.routes["/direct"] = lambda request: Reply(body={"ok": True})
    node = agent_node(agent={"explicit": agent.url("/direct")})

    result = await executor.execute(context(node, {"x": 1}))

    assert result.output == {"ok": True}
    assert agent.requests[0].body == {"input": {"x": 1}}, "without input_mapping the whole state is sent"
    assert "reply" not in result.state_patch


async def test_the_remote_agents_auth_is_sent(
    executor: AgentToolExecutor, agent: FakeAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORACLE_TOKEN", "s3cret")
    monkeypatch.setenv("JAMJET_SECRET_ORACLE_TOKEN", "ORACLE_TOKEN")
    agent.routes["/agent"] = lambda request: Reply(body={})
    config = remote(agent, auth=BearerAuth(token_env="ORACLE_TOKEN"))

    await executor.execute(context(agent_node(agent={"explicit": "oracle"}), remote_agent=config))

    assert agent.requests[0].headers["authorization"] == "Bearer s3cret"


@pytest.mark.parametrize(
    ("agent_target", "message"),
    [
        ("auto", "discovery"),
        ({"auto": {"skill": "x"}}, "discovery"),
        ({"explicit": "nobody"}, "neither in the IR's remote_agents nor an http"),
    ],
)
async def test_unresolvable_targets_are_fatal(
    executor: AgentToolExecutor, agent_target: Any, message: str
) -> None:
    with pytest.raises(FatalError, match=message):
        await executor.execute(context(agent_node(agent=agent_target)))


@pytest.mark.parametrize(
    ("status", "error_type", "error_class"),
    [(500, RetryableError, "server_error"), (429, RetryableError, "rate_limit"), (404, FatalError, None)],
)
async def test_http_failures_are_classified(
    executor: AgentToolExecutor,
    agent: FakeAgent,
    status: int,
    error_type: type[JamjetError],
    error_class: str | None,
) -> None:
    agent.routes["/agent"] = lambda request: Reply(status=status, body={}, headers={"Retry-After": "7"})
    with pytest.raises(error_type, match=f"HTTP {status}") as raised:
        await executor.execute(context(agent_node(agent={"explicit": "a"}), remote_agent=remote(agent)))
    assert getattr(raised.value, "error_class", None) == error_class
    if status == 429:
        assert isinstance(raised.value, RetryableError) and raised.value.retry_after == 7.0


async def test_an_unreachable_agent_is_retryable(
    executor: AgentToolExecutor, agent: FakeAgent, subscribe: Callable[[str], Any]
) -> None:
    unreachable = RemoteAgentConfig(url="http://127.0.0.1:9/agent")
    ctx = context(agent_node(agent={"explicit": "a"}), remote_agent=unreachable)
    received = await subscribe(ctx.item.execution_id)
    with pytest.raises(RetryableError, match="unreachable"):
        await executor.execute(ctx)
    events = await received.until("agent_tool_error")
    assert events[-1]["failure_type"] == "connection" and events[-1]["retryable"] is True


def conversation(finish_at: int | None) -> Callable[[Request], Reply]:
    def reply(request: Request) -> Reply:
        turn = request.body["turn"]
        done = finish_at is not None and turn >= finish_at
        body = {"output": f"{request.body['input']}+{turn}", "tokens": 10, "cost": 0.1}
        return Reply(body={**body, "status": "completed" if done else "working"})

    return reply


async def test_a_conversation_runs_until_the_agent_completes(
    executor: AgentToolExecutor, agent: FakeAgent
) -> None:
    agent.routes["/agent"] = conversation(finish_at=2)
    mode = {"conversational": {"max_turns": 5}}
    node = agent_node(
        agent={"explicit": "a"}, mode=mode, input_mapping={"text": "state.text"}, output_key="out"
    )

    result = await executor.execute(context(node, {"text": "hi"}, remote_agent=remote(agent)))

    assert [r.body["turn"] for r in agent.requests] == [1, 2]
    assert agent.requests[1].body["input"] == "{'text': 'hi'}+1", "a reply's output is the next input"
    events = result.state_patch["agent_tool_events"]
    turns = [(e["turn_number"], e["direction"]) for e in events if e["type"] == "agent_tool_turn"]
    assert turns == [(1, "outbound"), (1, "inbound"), (2, "outbound"), (2, "inbound")]
    assert events[2]["tokens"] == 10 and events[2]["cost"] == 0.1
    completed = events[-1]
    assert completed["type"] == "agent_tool_completed" and completed["total_turns"] == 2
    assert completed["total_cost"] == pytest.approx(0.2)
    assert result.output == completed["output"] == result.state_patch["out"]


async def test_a_conversation_stops_at_max_turns(executor: AgentToolExecutor, agent: FakeAgent) -> None:
    agent.routes["/agent"] = conversation(finish_at=None)
    node = agent_node(agent={"explicit": "a"}, mode={"conversational": {"max_turns": 3}})

    result = await executor.execute(context(node, {}, remote_agent=remote(agent)))

    assert len(agent.requests) == 3
    assert result.state_patch["agent_tool_events"][-1]["total_turns"] == 3


async def test_a_conversation_over_budget_is_terminated(
    executor: AgentToolExecutor, agent: FakeAgent
) -> None:
    agent.routes["/agent"] = conversation(finish_at=None)
    mode = {"conversational": {"max_turns": 5}}
    node = agent_node(agent={"explicit": "a"}, mode=mode, budget={"max_tokens": 15})

    result = await executor.execute(context(node, {}, remote_agent=remote(agent)))

    assert len(agent.requests) == 2
    types = [e["type"] for e in result.state_patch["agent_tool_events"]]
    assert types[-1] == "agent_tool_terminated" and "agent_tool_completed" not in types
    assert result.state_patch["agent_tool_events"][-1]["reason"] == "budget_exceeded"


async def test_an_unknown_mode_is_fatal(executor: AgentToolExecutor, agent: FakeAgent) -> None:
    node = agent_node(agent={"explicit": "a"}, mode="telepathy")
    with pytest.raises(FatalError, match="unknown mode"):
        await executor.execute(context(node, remote_agent=remote(agent)))
    assert agent.requests == []
