"""The pieces the trace context travels through: the event log's headers, the worker's spans, setup."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from nats.aio.client import Client as NATS
from opentelemetry import trace
from opentelemetry.trace import StatusCode

from jamjet_common import meters, telemetry
from jamjet_common.config import Env
from jamjet_common.errors import RetryableError
from jamjet_common.eventlog import EventLog
from jamjet_common.events import NodeStarted, WorkflowStarted
from jamjet_common.ir import NodeDef
from jamjet_common.streams import StreamLimits, ensure_streams
from services.worker.executors import ExecutionContext, ExecutionResult, ExecutorRegistry
from services.worker.failures import Failure
from services.worker.runner import run_node
from services.worker.tracing import redelivered
from tests.executors.builders import context
from tests.telemetry.capture import Captured

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
STARTED = WorkflowStarted(workflow_id="wf", workflow_version="1.0.0", initial_input={})


@pytest.fixture
async def log(nc: NATS) -> EventLog:
    js = nc.jetstream(timeout=10)
    await ensure_streams(js, StreamLimits.from_env(Env({})))
    return EventLog(nc, js)


async def test_headers_stored_with_an_event_come_back_when_reading(log: EventLog) -> None:
    first = await log.append("default", "exec_tp", STARTED, headers={"traceparent": TRACEPARENT})
    await log.append("default", "exec_tp", NodeStarted(node_id="a", worker_id="w", attempt=0))
    entries = [entry async for entry in log.read_entries("default", "exec_tp")]
    assert first.headers == {"traceparent": TRACEPARENT}
    assert [e.headers for e in entries] == [{"traceparent": TRACEPARENT}, {}]
    assert [(e.event.sequence, e.stream_seq) for e in entries] == [
        (event.sequence, seq) async for event, seq in log.read("default", "exec_tp")
    ]


async def test_a_duplicate_append_returns_the_headers_of_the_stored_event(log: EventLog) -> None:
    await log.append("default", "exec_dup", STARTED, msg_id="start", headers={"traceparent": TRACEPARENT})
    again = await log.append("default", "exec_dup", STARTED, msg_id="start", headers={"traceparent": "other"})
    assert again.duplicate and again.headers == {"traceparent": TRACEPARENT}


def tool_ctx() -> ExecutionContext:
    node = msgspec.convert({"id": "act", "kind": {"type": "tool", "tool_ref": "search"}}, NodeDef)
    return context(node)


class Flaky:
    async def execute(self, ctx: ExecutionContext) -> ExecutionResult:
        raise RetryableError("upstream is down")


class Fine:
    async def execute(self, ctx: ExecutionContext) -> Any:
        return ExecutionResult(output={"hits": 3})


async def test_a_failed_call_marks_its_call_span_and_the_node_span(captured: Captured) -> None:
    registry = ExecutorRegistry()
    registry.register("tool", Flaky())
    with trace.get_tracer("test").start_as_current_span(telemetry.SPAN_NODE) as node:
        outcome = await run_node(registry, tool_ctx())
    assert isinstance(outcome, Failure) and outcome.retryable
    (call,) = [s for s in captured.spans() if s.name == telemetry.SPAN_TOOL]
    assert call.parent is not None and call.parent.span_id == node.get_span_context().span_id
    assert call.status.status_code == StatusCode.ERROR
    assert (call.attributes or {})[telemetry.TOOL_NAME] == "search"
    (ended,) = [s for s in captured.spans() if s.name == telemetry.SPAN_NODE]
    assert ended.status.status_code == StatusCode.ERROR and ended.status.description == "upstream is down"


async def test_a_call_that_succeeds_has_no_model_attributes(captured: Captured) -> None:
    registry = ExecutorRegistry()
    registry.register("tool", Fine())
    outcome = await run_node(registry, tool_ctx(), capture_prompts=True)
    assert not isinstance(outcome, Failure)
    (call,) = [s for s in captured.spans() if s.name == telemetry.SPAN_TOOL]
    assert call.status.status_code != StatusCode.ERROR
    assert not [k for k in call.attributes or {} if k.startswith("gen_ai.")]


def test_redeliveries_are_counted_per_queue(captured: Captured) -> None:
    def count(queue: str) -> int:
        points = captured.points(meters.REDELIVERIES)
        return sum(p.value for p in points if p.attributes[telemetry.QUEUE] == queue)

    before = count("python_tool")
    redelivered("python_tool")
    redelivered("python_tool")
    assert count("python_tool") == before + 2


def test_without_an_endpoint_setup_installs_nothing() -> None:
    assert telemetry.setup("worker", {}) is False
    assert telemetry.setup("worker", {"OTEL_EXPORTER_OTLP_ENDPOINT": " "}) is False


def test_prompt_capture_is_off_unless_asked_for() -> None:
    assert not telemetry.capture_prompts({})
    assert telemetry.capture_prompts({"JAMJET_CAPTURE_PROMPTS": "true"})
    assert telemetry.capture_prompts({"JAMJET_CAPTURE_PROMPTS": "1"})
    assert telemetry.truncated("x" * 5000) == "x" * telemetry.CAPTURE_LIMIT + "…"
