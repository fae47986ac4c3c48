"""The services as processes export their spans and metrics over OTLP/HTTP to a receiver."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jamjet_common import meters, telemetry
from jamjet_common.local.nats_server import free_port
from services.devstack.stack import ServiceProcesses, service_env
from tests.e2e.stack import Stack
from tests.executors.fake_http import FakeHttpServer
from tests.helpers import ask as runtime_request
from tests.helpers import eventually
from tests.telemetry import flows, prometheus
from tests.telemetry.flows import ClientSpan
from tests.telemetry.otlp import OtlpReceiver, ReceivedSpan
from tests.telemetry.prometheus import MetricShape

pytestmark = pytest.mark.e2e
SERVICES = {"jamjet-scheduler", "jamjet-worker", "jamjet-policy", "jamjet-event-store"}


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as running:
        yield running


def process_env(stack: Stack, receiver: OtlpReceiver, llm: FakeHttpServer) -> dict[str, str]:
    env = service_env(stack.nats_url, stack.database_url)
    env.update(flows.model_env(llm))
    env.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_BSP_SCHEDULE_DELAY="100",
        OTEL_METRIC_EXPORT_INTERVAL="500",
        JAMJET_METRICS_POLL_SECS="0.2",
        JAMJET_SHUTDOWN_GRACE_SECS="5",
        JAMJET_GATEWAY_PORT=str(free_port()),
    )
    env.pop("JAMJET_CAPTURE_PROMPTS", None)
    return env


async def test_processes_export_one_trace_per_execution_over_otlp_http(
    stack: Stack, llm: FakeHttpServer, receiver: OtlpReceiver, tmp_path: Path
) -> None:
    client = ClientSpan()
    procs = ServiceProcesses(process_env(stack, receiver, llm), tmp_path / "logs")
    await procs.start()
    try:
        await eventually(lambda: _registered(stack), timeout=60, message="the services did not come up")
        execution_id = await flows.start_traced(stack, "traced", client, {"topic": "tides"})
        await stack.all_terminal([execution_id], timeout=60)
        await eventually(
            lambda: len(_of(receiver.received(), client.trace_id, telemetry.SPAN_NODE)) == 3,
            timeout=30,
            message="node spans were not exported",
        )
        await eventually(lambda: meters.QUEUE_DEPTH in receiver.metric_names(), timeout=30)
    finally:
        await procs.stop()
    assert stack.recorder.terminal[execution_id] == "workflow_completed"
    await eventually(lambda: meters.TOKEN_USAGE in receiver.metric_names(), timeout=15)
    spans = [s for s in receiver.received() if s.trace_id == client.trace_id]
    assert {s.service for s in spans} == SERVICES - {"jamjet-event-store"}
    (workflow,) = _of(spans, client.trace_id, telemetry.SPAN_WORKFLOW)
    assert workflow.service == "jamjet-scheduler" and workflow.parent_span_id == client.span_id
    nodes = _of(spans, client.trace_id, telemetry.SPAN_NODE)
    assert {n.parent_span_id for n in nodes} == {workflow.span_id}
    assert {n.attributes[telemetry.NODE_ID] for n in nodes} == {"root", "route", "think"}
    (think,) = [n for n in nodes if n.attributes[telemetry.NODE_ID] == "think"]
    assert think.attributes[telemetry.GEN_AI_INPUT_TOKENS] == flows.INPUT_TOKENS
    assert think.attributes[telemetry.GEN_AI_OUTPUT_TOKENS] == flows.OUTPUT_TOKENS
    assert think.attributes[telemetry.GEN_AI_FINISH_REASONS] == ("stop",)
    (call,) = _of(spans, client.trace_id, telemetry.SPAN_MODEL)
    assert call.parent_span_id == think.span_id and telemetry.GEN_AI_PROMPT not in call.attributes
    policy = _of(spans, client.trace_id, telemetry.SPAN_POLICY)
    assert {p.service for p in policy} == {"jamjet-policy"}
    assert {p.parent_span_id for p in policy} == {n.span_id for n in nodes}
    stored = [s for s in receiver.received() if s.name == telemetry.SPAN_STORE_WRITE]
    assert {s.service for s in stored} == {"jamjet-event-store"}
    _assert_prometheus_names(receiver.metric_shapes())


def _assert_prometheus_names(shapes: set[MetricShape]) -> None:
    """What Prometheus scrapes from the compose collector: one `jamjet_` prefix, never two."""
    names = {prometheus.name(shape, prometheus.namespace()) for shape in shapes}
    assert {"jamjet_queue_depth", "jamjet_executions_started_total", "gen_ai_client_token_usage"} <= names
    assert [name for name in names if name.startswith("jamjet_jamjet")] == []


def _of(spans: list[ReceivedSpan], trace_id: int, name: str) -> list[ReceivedSpan]:
    return [s for s in spans if s.trace_id == trace_id and s.name == name]


async def _registered(stack: Stack) -> bool:
    """Whether the scheduler answered the registration (asked again until it is up)."""
    reply = await runtime_request(
        stack.nc, "jamjet.cmd.workflows.register", {"ir": flows.fn_cond_model()}, timeout=1
    )
    return bool(reply["ok"])
