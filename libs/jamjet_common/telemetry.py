"""OpenTelemetry for the services: setup, names, and trace context carried in NATS headers.

One trace per execution: the start command's ``traceparent`` (or a new root) is kept with the
execution's events; every message about that execution afterwards (work items, policy requests,
appended events) carries it as a W3C ``traceparent`` header, so spans of every service join the trace.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

logger = logging.getLogger(__name__)

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
PROPAGATOR: TextMapPropagator = TraceContextTextMapPropagator()

# Span names of the original runtime.
SPAN_WORKFLOW = "jamjet.workflow"
SPAN_NODE = "jamjet.node"
SPAN_MODEL = "jamjet.model_call"
SPAN_TOOL = "jamjet.tool_call"
SPAN_MCP = "jamjet.mcp_call"
SPAN_AGENT = "jamjet.agent_call"
SPAN_A2A = "jamjet.a2a_task"
# Spans of this runtime's own services.
SPAN_POLICY = "jamjet.policy.evaluate"
SPAN_STORE_WRITE = "jamjet.event_store.write"

# Attributes of the original runtime.
EXECUTION_ID = "jamjet.execution.id"
WORKFLOW_ID = "jamjet.workflow.id"
WORKFLOW_VERSION = "jamjet.workflow.version"
NODE_ID = "jamjet.node.id"
NODE_KIND = "jamjet.node.kind"
WORKER_ID = "jamjet.worker.id"
ATTEMPT = "jamjet.attempt"
COST_USD = "jamjet.cost.usd"
AGENT_ID = "jamjet.agent.id"
AGENT_URI = "jamjet.agent.uri"
TOOL_NAME = "jamjet.tool.name"
TOOL_PROTOCOL = "jamjet.tool.protocol"
MCP_SERVER = "jamjet.mcp.server"
QUEUE = "jamjet.queue"
POLICY_DECISION = "jamjet.policy.decision"
GEN_AI_SYSTEM = "gen_ai.system"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_OPERATION = "gen_ai.operation.name"
GEN_AI_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"
GEN_AI_PROMPT = "gen_ai.prompt"
GEN_AI_COMPLETION = "gen_ai.completion"

CAPTURE_LIMIT = 4096


@dataclass(slots=True)
class _Installed:
    service: str | None = None


_INSTALLED = _Installed()


def setup(
    service: str,
    environ: Mapping[str, str] | None = None,
    exporter: SpanExporter | None = None,
    metric_reader: MetricReader | None = None,
) -> bool:
    """Install tracer and meter providers; export with OTLP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set.

    The providers are process-wide and can be set once: the first service of a process to call this
    wins (several in one process share its ``service.name``). Without an endpoint (and no exporter
    given) nothing is installed and the API stays a no-op, which is also what lets a test install its
    own in-memory providers. True if the providers are this module's.
    """
    env = os.environ if environ is None else environ
    endpoint = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if exporter is None and not endpoint:
        return False
    if _INSTALLED.service is not None:
        return True
    _INSTALLED.service = service
    resource = Resource.create({"service.name": f"jamjet-{service}", "service.namespace": "jamjet"})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(exporter or _otlp_exporter(env, endpoint)))
    trace.set_tracer_provider(provider)
    reader = metric_reader or (_otlp_metric_reader(env, endpoint) if endpoint else None)
    if reader is not None:
        metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=[reader]))
    logger.info("telemetry: exporting spans and metrics of jamjet-%s", service)
    return True


def _uses_http(env: Mapping[str, str]) -> bool:
    return env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc").strip().startswith("http")


def _otlp_exporter(env: Mapping[str, str], endpoint: str) -> SpanExporter:
    # Endpoints are passed explicitly: ``environ`` need not be the process environment.
    if _uses_http(env):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        url = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or f"{endpoint.rstrip('/')}/v1/traces"
        return HttpExporter(endpoint=url)
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

    return GrpcExporter(endpoint=env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or endpoint)


def _otlp_metric_reader(env: Mapping[str, str], endpoint: str) -> MetricReader:
    exporter: MetricExporter
    if _uses_http(env):
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetrics

        url = env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") or f"{endpoint.rstrip('/')}/v1/metrics"
        exporter = HttpMetrics(endpoint=url)
    else:
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetrics

        exporter = GrpcMetrics(endpoint=env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") or endpoint)
    return PeriodicExportingMetricReader(exporter)


def metrics_enabled() -> bool:
    """Whether some SDK meter provider (ours or a test's) records what the instruments measure."""
    return isinstance(metrics.get_meter_provider(), MeterProvider)


@functools.cache
def tracer(name: str) -> trace.Tracer:
    """One per name: ``get_tracer`` builds a new one on every call (a node span each step). Kept even if
    asked before the providers are installed: OpenTelemetry's proxy then finds them when a span starts,
    and the providers can be set only once."""
    return trace.get_tracer(name)


def meter(name: str) -> metrics.Meter:
    return metrics.get_meter(name)


def extract(headers: Mapping[str, str] | None) -> Context:
    """The trace context a message carries (an empty context if none)."""
    return PROPAGATOR.extract(dict(headers or {}))


def inject(headers: dict[str, str] | None = None, ctx: Context | None = None) -> dict[str, str]:
    """``headers`` plus the ``traceparent`` of ``ctx`` (default: the current context)."""
    out = dict(headers or {})
    PROPAGATOR.inject(out, context=ctx)
    return out


def carrier(headers: Mapping[str, str] | None) -> dict[str, str]:
    """Just the trace headers of a message, to keep with an execution."""
    return {k: v for k, v in (headers or {}).items() if k in (TRACEPARENT, TRACESTATE)}


def attach(ctx: Context) -> object:
    return otel_context.attach(ctx)


def detach(token: Any) -> None:
    otel_context.detach(token)


def capture_prompts(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return env.get("JAMJET_CAPTURE_PROMPTS", "").lower() in ("1", "true", "yes")


def truncated(text: str) -> str:
    return text if len(text) <= CAPTURE_LIMIT else text[:CAPTURE_LIMIT] + "…"
