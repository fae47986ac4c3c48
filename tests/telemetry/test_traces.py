"""One trace per execution, across the four services running in the test's process."""

from __future__ import annotations

import contextlib

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from jamjet_common import meters, telemetry
from services.event_store.service import EventStoreService
from services.policy.service import PolicyService
from services.scheduler.service import SchedulerService
from services.worker.service import WorkerService
from tests.e2e.stack import Stack, services
from tests.executors.fake_http import FakeHttpServer
from tests.harness import running
from tests.helpers import eventually
from tests.telemetry import flows
from tests.telemetry.capture import Captured
from tests.telemetry.flows import ClientSpan, HeaderTap

pytestmark = pytest.mark.e2e


def of_execution(spans: list[ReadableSpan], execution_id: str) -> list[ReadableSpan]:
    return [s for s in spans if (s.attributes or {}).get(telemetry.EXECUTION_ID) == execution_id]


def named(spans: list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


def node_span(spans: list[ReadableSpan], node_id: str) -> ReadableSpan:
    found = [
        s for s in named(spans, telemetry.SPAN_NODE) if (s.attributes or {})[telemetry.NODE_ID] == node_id
    ]
    assert len(found) == 1, (node_id, found)
    return found[0]


def ancestors(span: ReadableSpan, spans: list[ReadableSpan]) -> list[int]:
    by_id = {s.context.span_id: s for s in spans if s.context is not None}
    chain: list[int] = []
    parent = span.parent
    while parent is not None:
        chain.append(parent.span_id)
        above = by_id.get(parent.span_id)
        parent = above.parent if above is not None else None
    return chain


def gauged(captured: Captured, name: str, key: str) -> set[str]:
    return {str(p.attributes[key]) for p in captured.points(name)}


async def tapped(stack: Stack) -> HeaderTap:
    tap = HeaderTap()
    await stack.nc.subscribe("jamjet.events.>", cb=tap.on_event)
    await stack.nc.subscribe("jamjet.work.>", cb=tap.on_work)
    return tap


async def test_an_execution_is_one_trace_across_the_services(
    stack: Stack, llm: FakeHttpServer, captured: Captured
) -> None:
    client = ClientSpan()
    tap = await tapped(stack)
    env = {**flows.model_env(llm), "JAMJET_CAPTURE_PROMPTS": "true", "JAMJET_METRICS_POLL_SECS": "0.1"}
    async with services(stack, **env):
        await stack.register(flows.fn_cond_model())
        execution_id = await flows.start_traced(stack, "traced", client, {"topic": "tides"})
        await stack.all_terminal([execution_id])
        # Gauges report only while their services run.
        depths = await eventually(lambda: gauged(captured, meters.QUEUE_DEPTH, telemetry.QUEUE))
        lags = await eventually(lambda: gauged(captured, meters.EVENT_STORE_LAG, meters.CONSUMER))
    assert "model" in depths and "general" in depths
    assert lags == {"jamjet-event-store"}
    assert stack.recorder.terminal[execution_id] == "workflow_completed"
    spans = of_execution(captured.spans(), execution_id)
    assert {s.context.trace_id for s in spans} == {client.trace_id}
    in_trace = [s for s in captured.spans() if s.context.trace_id == client.trace_id]
    assert sorted(s.name for s in in_trace) == sorted(s.name for s in spans), (
        "a span of the trace lost its ids"
    )

    (workflow,) = named(spans, telemetry.SPAN_WORKFLOW)
    assert workflow.parent is not None and workflow.parent.span_id == client.span_id
    assert workflow.attributes == {
        telemetry.EXECUTION_ID: execution_id,
        telemetry.WORKFLOW_ID: "traced",
        telemetry.WORKFLOW_VERSION: "1.0.0",
    }
    nodes = named(spans, telemetry.SPAN_NODE)
    assert sorted(n.attributes[telemetry.NODE_ID] for n in nodes) == ["root", "route", "think"]  # type: ignore[index]
    for node in nodes:
        assert workflow.context.span_id in ancestors(node, spans)
        attributes = node.attributes or {}
        assert attributes[telemetry.EXECUTION_ID] == execution_id
        assert (
            attributes[telemetry.WORKFLOW_ID] == "traced"
            and attributes[telemetry.WORKFLOW_VERSION] == "1.0.0"
        )
        assert attributes[telemetry.ATTEMPT] == 0 and attributes[telemetry.WORKER_ID] == "worker-0"
        assert node.status.status_code != StatusCode.ERROR
    kinds = {n.attributes[telemetry.NODE_ID]: n.attributes[telemetry.NODE_KIND] for n in nodes}  # type: ignore[index]
    assert kinds == {"root": "python_fn", "route": "condition", "think": "model"}

    _assert_model_spans(spans)
    _assert_policy_spans(spans, nodes)
    _assert_headers(tap, execution_id, client, workflow)
    _assert_metrics(captured)
    stored = named(captured.spans(), telemetry.SPAN_STORE_WRITE)
    assert any(link.context.trace_id == client.trace_id for s in stored for link in s.links)


def _assert_model_spans(spans: list[ReadableSpan]) -> None:
    think = node_span(spans, "think")
    expected = {
        telemetry.GEN_AI_SYSTEM: "openai",
        telemetry.GEN_AI_REQUEST_MODEL: flows.MODEL,
        telemetry.GEN_AI_RESPONSE_MODEL: flows.MODEL,
        telemetry.GEN_AI_OPERATION: "chat",
        telemetry.GEN_AI_INPUT_TOKENS: flows.INPUT_TOKENS,
        telemetry.GEN_AI_OUTPUT_TOKENS: flows.OUTPUT_TOKENS,
        telemetry.GEN_AI_FINISH_REASONS: ("stop",),
    }
    assert {k: (think.attributes or {}).get(k) for k in expected} == expected
    (call,) = named(spans, telemetry.SPAN_MODEL)
    assert call.parent is not None and call.parent.span_id == think.context.span_id
    assert {k: (call.attributes or {}).get(k) for k in expected} == expected
    assert "Summarise tides" in str((call.attributes or {})[telemetry.GEN_AI_PROMPT])
    assert (call.attributes or {})[telemetry.GEN_AI_COMPLETION] == "ok: Summarise tides"
    root = node_span(spans, "root")
    assert not any(k.startswith("gen_ai.") for k in root.attributes or {})


def _assert_policy_spans(spans: list[ReadableSpan], nodes: list[ReadableSpan]) -> None:
    policy = named(spans, telemetry.SPAN_POLICY)
    node_ids = {n.context.span_id for n in nodes}
    assert len(policy) == len(nodes)
    assert all(p.parent is not None and p.parent.span_id in node_ids for p in policy)
    assert {(p.attributes or {})[telemetry.POLICY_DECISION] for p in policy} == {"allow"}


def _assert_headers(tap: HeaderTap, execution_id: str, client: ClientSpan, workflow: ReadableSpan) -> None:
    events, work = tap.events[execution_id], tap.work[execution_id]
    assert len(events) >= 10 and len(work) == 3
    assert {flows.trace_id_of(tp) for tp in events + work} == {client.trace_id}
    assert {flows.parent_id_of(tp) for tp in work} == {workflow.context.span_id}


def _assert_metrics(captured: Captured) -> None:
    usage = {
        p.attributes[telemetry.GEN_AI_TOKEN_TYPE]: p.sum
        for p in captured.points(meters.TOKEN_USAGE)
        if p.attributes.get(telemetry.GEN_AI_REQUEST_MODEL) == flows.MODEL
    }
    assert usage == {"input": flows.INPUT_TOKENS, "output": flows.OUTPUT_TOKENS}
    started = [
        p
        for p in captured.points(meters.EXECUTIONS_STARTED)
        if p.attributes[telemetry.WORKFLOW_ID] == "traced"
    ]
    assert sum(p.value for p in started) >= 1
    ended = [
        p
        for p in captured.points(meters.EXECUTIONS_TERMINAL)
        if p.attributes[telemetry.WORKFLOW_ID] == "traced"
    ]
    assert {p.attributes[meters.STATUS] for p in ended} == {"completed"}
    durations = [
        p for p in captured.points(meters.NODE_DURATION) if p.attributes[telemetry.NODE_KIND] == "model"
    ]
    assert sum(p.count for p in durations) >= 1


async def test_the_trace_survives_a_scheduler_restart(stack: Stack, captured: Captured) -> None:
    client = ClientSpan()
    tap = await tapped(stack)
    env = stack.env()
    async with contextlib.AsyncExitStack() as always:
        for service in (EventStoreService, PolicyService, WorkerService):
            await always.enter_async_context(running(service.from_env(env)))
        async with running(SchedulerService.from_env(env)):
            await stack.register(flows.nap_then_root())
            execution_id = await flows.start_traced(stack, "napper", client, {"sleep": 1.5})
            await eventually(lambda: "node_started" in stack.recorder.kinds(execution_id), timeout=30)
        await eventually(lambda: "node_completed" in stack.recorder.kinds(execution_id), timeout=30)
        assert len(tap.work[execution_id]) == 1, "the second node must be dispatched after the restart"
        async with running(SchedulerService.from_env(env)):
            await stack.all_terminal([execution_id])
    assert stack.recorder.terminal[execution_id] == "workflow_completed"
    spans = of_execution(captured.spans(), execution_id)
    assert {s.context.trace_id for s in spans} == {client.trace_id}
    (workflow,) = named(spans, telemetry.SPAN_WORKFLOW)
    after = node_span(spans, "after")
    assert after.parent is not None and after.parent.span_id == workflow.context.span_id
    assert {flows.parent_id_of(tp) for tp in tap.work[execution_id]} == {workflow.context.span_id}
    assert {flows.trace_id_of(tp) for tp in tap.events[execution_id]} == {client.trace_id}


async def test_an_execution_started_without_a_trace_gets_a_root_of_its_own(
    stack: Stack, captured: Captured
) -> None:
    async with services(stack):
        await stack.register(flows.nap_then_root("plain"))
        execution_id = await stack.start("plain", {"sleep": 0})
        await stack.all_terminal([execution_id])
    spans = of_execution(captured.spans(), execution_id)
    (workflow,) = named(spans, telemetry.SPAN_WORKFLOW)
    assert workflow.parent is None
    assert {s.context.trace_id for s in spans} == {workflow.context.trace_id}
    assert len(named(spans, telemetry.SPAN_NODE)) == 2
    prompts = [s for s in spans if telemetry.GEN_AI_PROMPT in (s.attributes or {})]
    assert prompts == []
