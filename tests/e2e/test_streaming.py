"""agent_tool streaming through the running services: live progress, replay, and the node's record."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from nats.js.api import ConsumerConfig, DeliverPolicy

from tests.agents.fake_agent import FakeAgent, Reply, ndjson_lines
from tests.e2e import workflows
from tests.e2e.stack import Stack, services
from tests.helpers import eventually

pytestmark = pytest.mark.e2e


def streaming_ir(url: str) -> dict[str, Any]:
    node = {
        "id": "research",
        "kind": {
            "type": "agent_tool",
            "agent": {"explicit": url},
            "mode": "streaming",
            "output_key": "findings",
        },
    }
    return workflows.workflow(
        [workflows.fn("root", "root", workflows.MODULE), node], [("root", "research")], wf="streamer"
    )


async def test_progress_chunks_arrive_live_and_replay_for_late_subscribers(stack: Stack) -> None:
    chunks = ndjson_lines(*({"delta": f"part {i} "} for i in range(5)), {"output": {"summary": "done"}})
    agent = FakeAgent()
    async with agent.serving(), services(stack):
        agent.routes["/agent"] = lambda request: Reply(lines=chunks, delay=0.05)
        await stack.register(streaming_ir(agent.url("/agent")))
        live: list[tuple[float, dict[str, Any]]] = []

        async def on_progress(msg: Any) -> None:
            live.append((time.monotonic(), json.loads(msg.data)))

        await stack.nc.subscribe("jamjet.progress.default.>", cb=on_progress)
        execution_id = await stack.start("streamer", execution_id="exec_streaming_1")
        await stack.all_terminal([execution_id])
        await eventually(lambda: any(e["type"] == "agent_tool_completed" for _, e in live))
        replayed = await _replay(stack, execution_id)
    types = [event["type"] for _, event in live]
    assert types[0] == "agent_tool_invoked" and types[-1] == "agent_tool_completed"
    assert types.count("agent_tool_progress") == len(chunks)
    # Each chunk reaches the subscriber shortly after the agent wrote it (loose bound: shared machine).
    progress_times = [at for at, event in live if event["type"] == "agent_tool_progress"]
    lags = [seen - sent for seen, sent in zip(progress_times, agent.sent_at, strict=True)]
    assert max(lags) < 0.5, lags
    assert [e["type"] for e in replayed] == types, "a late subscriber replays the same events in order"
    final = stack.recorder.events[execution_id][-1]["kind"]["final_state"]
    assert [e["type"] for e in final["agent_tool_events"]] == types
    assert final["findings"]["text"].startswith("part 0 part 1")


async def _replay(stack: Stack, execution_id: str) -> list[dict[str, Any]]:
    js = stack.nc.jetstream()
    config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
    sub = await js.subscribe(f"jamjet.progress.default.{execution_id}", ordered_consumer=True, config=config)
    events: list[dict[str, Any]] = []
    info = await js.stream_info("JAMJET_PROGRESS", subjects_filter=f"jamjet.progress.default.{execution_id}")
    for _ in range(info.state.messages):
        msg = await sub.next_msg(timeout=5)
        events.append(json.loads(msg.data))
    await sub.unsubscribe()
    return events
