"""agent_tool ``streaming``: chunks from a real NDJSON/SSE agent, published live on real NATS, replayable."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from jamjet_common import streams, subjects
from jamjet_common.errors import FatalError, JamjetError, RetryableError
from jamjet_common.ir import RemoteAgentConfig
from services.worker.executors.agent_tool import AgentToolExecutor
from services.worker.executors.base import ExecutionContext, ExecutionResult
from services.worker.progress import NatsProgressSink
from tests.agents.builders import TENANT, agent_node, context
from tests.agents.conftest import Received
from tests.agents.fake_agent import SSE, FakeAgent, Reply, ndjson_lines
from tests.helpers import eventually

LIVE_BOUND_SECS = 0.5
"""Loose on purpose: a chunk is typically seen within a few milliseconds."""
WORDS = ["The ", "quick ", "brown ", "fox"]


def streaming_node(**extra: Any) -> Any:
    return agent_node(
        agent={"explicit": "writer"},
        mode="streaming",
        input_mapping={"topic": "state.topic"},
        output_key="story",
        **extra,
    )


def stream_of_words(delay: float = 0.05) -> Reply:
    chunks = [{"delta": word, "cost": 0.01, "tokens": 5} for word in WORDS]
    return Reply(lines=ndjson_lines(*chunks, {"output": {"title": "Fox"}}), delay=delay)


async def prepare(
    agent: FakeAgent, subscribe: Callable[[str], Any], **node: Any
) -> tuple[ExecutionContext, Received]:
    ctx = context(
        streaming_node(**node),
        {"topic": "foxes"},
        remote_agent=RemoteAgentConfig(url=agent.url("/stream")),
    )
    return ctx, await subscribe(ctx.item.execution_id)


async def run_streaming(
    executor: AgentToolExecutor, agent: FakeAgent, subscribe: Callable[[str], Any], **node: Any
) -> tuple[ExecutionResult, Received, str]:
    ctx, received = await prepare(agent, subscribe, **node)
    result = await executor.execute(ctx)
    return result, received, ctx.item.execution_id


async def test_chunks_are_published_live_and_in_order(
    executor: AgentToolExecutor, agent: FakeAgent, subscribe: Callable[[str], Any]
) -> None:
    agent.routes["/stream"] = lambda request: stream_of_words()
    result, received, execution_id = await run_streaming(executor, agent, subscribe)

    events = await received.until("agent_tool_completed")
    assert received.types() == ["agent_tool_invoked"] + ["agent_tool_progress"] * 5 + ["agent_tool_completed"]
    assert [e["sequence"] for e in events] == list(range(1, 8))
    assert all(e["node_id"] == "ask" and e["execution_id"] == execution_id for e in events)
    progress = events[1:6]
    assert [e["chunk_index"] for e in progress] == [0, 1, 2, 3, 4]
    assert progress[2]["partial_output_summary"] == "The quick brown "
    assert progress[3]["accumulated_cost_usd"] == pytest.approx(0.04)
    for index in range(len(progress)):
        lag = received.arrived_at[index + 1] - agent.sent_at[index]
        assert 0 <= lag < LIVE_BOUND_SECS, f"chunk {index} seen {lag * 1000:.1f} ms after it was sent"

    assert agent.requests[0].body == {"input": {"topic": "foxes"}}
    assert events[0]["agent_uri"] == agent.url("/stream") and events[0]["mode"] == "streaming"
    assert len(events[0]["input_hash"]) == 16
    expected = {"output": {"title": "Fox"}, "text": "The quick brown fox", "chunks_received": 5}
    assert events[-1]["output"] == expected and events[-1]["total_cost"] == pytest.approx(0.04)
    assert result.output == expected
    recorded = [{k: v for k, v in e.items() if k != "chunk"} for e in events]
    assert result.state_patch == {"agent_tool_events": recorded, "story": expected}
    assert "chunk" in events[1], "the chunk itself is published live but not kept in the state"
    assert result.cost_usd == pytest.approx(0.04)


async def test_a_late_subscriber_replays_the_progress_stream(
    executor: AgentToolExecutor,
    agent: FakeAgent,
    subscribe: Callable[[str], Any],
    js: JetStreamContext,
) -> None:
    agent.routes["/stream"] = lambda request: stream_of_words(delay=0.0)
    _, live, execution_id = await run_streaming(executor, agent, subscribe)
    await live.until("agent_tool_completed")

    late = Received()
    subject = subjects.progress(TENANT, execution_id)
    sub = await js.subscribe(subject, cb=late.on_msg, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL)
    try:
        await late.until("agent_tool_completed")
    finally:
        await sub.unsubscribe()
    assert late.events == live.events
    info = await js.stream_info(streams.PROGRESS)
    assert info.config.max_msgs_per_subject == 10_000 and info.config.max_age == 24 * 3600


@pytest.mark.parametrize(
    "budget",
    [{"max_cost_usd": 0.025}, {"max_tokens": 12}],
    ids=["cost", "tokens"],
)
async def test_budget_exceeded_terminates_the_stream(
    executor: AgentToolExecutor,
    agent: FakeAgent,
    subscribe: Callable[[str], Any],
    budget: dict[str, Any],
) -> None:
    many = [{"delta": f"w{i} ", "cost": 0.01, "tokens": 5} for i in range(40)]
    agent.routes["/stream"] = lambda request: Reply(lines=ndjson_lines(*many), delay=0.02)
    result, received, _ = await run_streaming(executor, agent, subscribe, budget=budget)

    events = await received.until("agent_tool_terminated")
    assert received.types() == ["agent_tool_invoked"] + ["agent_tool_progress"] * 3 + [
        "agent_tool_terminated"
    ]
    terminated = events[-1]
    assert terminated["reason"] == "budget_exceeded" and terminated["chunks_received"] == 3
    assert terminated["partial_output"]["text"] == "w0 w1 w2 "
    assert terminated["cost"] == pytest.approx(0.03)
    assert "agent_tool_completed" not in [e["type"] for e in result.state_patch["agent_tool_events"]]
    assert result.output == terminated["partial_output"]
    await eventually(agent.disconnected.is_set, timeout=5, message="the agent never saw the hang-up")
    assert len(agent.sent_at) < len(many), "the agent should stop streaming once the worker hangs up"


async def test_no_chunk_within_the_timeout_terminates_with_idle_timeout(
    executor: AgentToolExecutor, agent: FakeAgent, subscribe: Callable[[str], Any]
) -> None:
    agent.routes["/stream"] = lambda request: Reply(lines=ndjson_lines({"delta": "hm"}), hang=True)
    ctx, received = await prepare(agent, subscribe, timeout_ms=200)
    with pytest.raises(RetryableError, match=r"no chunk for 0\.2s") as raised:
        await executor.execute(ctx)
    assert raised.value.error_class == "timeout"

    events = await received.until("agent_tool_terminated")
    assert received.types() == ["agent_tool_invoked", "agent_tool_progress", "agent_tool_terminated"]
    assert events[-1]["reason"] == "idle_timeout" and events[-1]["chunks_received"] == 1
    assert events[-1]["partial_output"]["text"] == "hm"
    await eventually(agent.disconnected.is_set, timeout=5, message="the stalled stream was not closed")


async def test_cancelling_the_node_hangs_up_on_the_agent(
    executor: AgentToolExecutor, agent: FakeAgent, subscribe: Callable[[str], Any]
) -> None:
    """The worker's node timeout cancels the executor mid-stream: the agent must see the connection go."""
    agent.routes["/stream"] = lambda request: Reply(lines=ndjson_lines({"delta": "x"}), hang=True)
    ctx, received = await prepare(agent, subscribe, timeout_ms=30_000)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await executor.execute(ctx)
    await eventually(agent.disconnected.is_set, timeout=5, message="the stream was left open")
    assert (await received.until("agent_tool_progress"))[-1]["chunk"] == {"delta": "x"}


async def test_malformed_lines_become_raw_chunks(
    executor: AgentToolExecutor, agent: FakeAgent, subscribe: Callable[[str], Any]
) -> None:
    lines = ['{"delta": "ok"}', "not json {", '"just a string"']
    agent.routes["/stream"] = lambda request: Reply(lines=lines)
    result, received, _ = await run_streaming(executor, agent, subscribe)

    events = await received.until("agent_tool_completed")
    chunks = [e["chunk"] for e in events if e["type"] == "agent_tool_progress"]
    assert chunks == [{"delta": "ok"}, {"raw": "not json {"}, {"value": "just a string"}]
    assert result.output["chunks_received"] == 3


async def test_server_sent_events_are_read_like_ndjson(
    executor: AgentToolExecutor, agent: FakeAgent, subscribe: Callable[[str], Any]
) -> None:
    lines = [
        'data: {"delta": "a"}',
        "",
        ": keep-alive",
        "event: chunk",
        'data: {"delta": "b"}',
        "",
        "data: [DONE]",
    ]
    agent.routes["/stream"] = lambda request: Reply(lines=lines, content_type=SSE)
    result, received, _ = await run_streaming(executor, agent, subscribe)

    await received.until("agent_tool_completed")
    assert result.output == {"output": None, "text": "ab", "chunks_received": 2}


@pytest.mark.parametrize(("status", "error_type"), [(503, RetryableError), (400, FatalError)])
async def test_a_failed_stream_request_reports_agent_tool_error(
    executor: AgentToolExecutor,
    agent: FakeAgent,
    subscribe: Callable[[str], Any],
    status: int,
    error_type: type[JamjetError],
) -> None:
    agent.routes["/stream"] = lambda request: Reply(status=status, body={"error": "nope"})
    ctx, received = await prepare(agent, subscribe)
    with pytest.raises(error_type, match=f"HTTP {status}"):
        await executor.execute(ctx)

    events = await received.until("agent_tool_error")
    assert received.types() == ["agent_tool_invoked", "agent_tool_error"]
    assert events[-1]["failure_type"] == "http_status"
    assert events[-1]["retryable"] is (error_type is RetryableError)
    assert '{"error": "nope"}' in events[-1]["error"]


async def test_progress_publishing_does_not_need_a_stream(nc: NATS, agent: FakeAgent) -> None:
    """Without JAMJET_PROGRESS provisioned, live subscribers still get every event."""
    executor = AgentToolExecutor(NatsProgressSink(lambda: nc))  # bound late, as a service would
    agent.routes["/stream"] = lambda request: stream_of_words(delay=0.0)
    received = Received()
    ctx = context(streaming_node(), {"topic": "x"}, remote_agent=RemoteAgentConfig(url=agent.url("/stream")))
    await nc.subscribe(subjects.progress(TENANT, ctx.item.execution_id), cb=received.on_msg)
    await nc.flush()
    try:
        await executor.execute(ctx)
    finally:
        await executor.aclose()
    assert (await received.until("agent_tool_completed"))[-1]["sequence"] == 7
