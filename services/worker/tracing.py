"""The worker's spans and metrics.

Each delivery of a work item that gets past decoding runs in a ``jamjet.node`` span, a child of the
``traceparent`` the scheduler put on the item; the policy request and the events appended meanwhile
carry that span's context on. Model, tool, MCP and agent executors run in a child span of their own
(``jamjet.model_call``, ...), wrapped around the executor here rather than inside it. Prompts and
completions become span attributes only when ``JAMJET_CAPTURE_PROMPTS`` is on, truncated.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import Any

from nats.js import JetStreamContext
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from jamjet_common import meters, streams, telemetry
from jamjet_common.ir import AgentNode, AgentToolNode, McpToolNode, ModelNode, ToolNode
from jamjet_common.messages import WorkItem
from services.worker.executors import ExecutionContext, ExecutionResult, Executor
from services.worker.executors.chat import messages
from services.worker.executors.model import infer_system
from services.worker.failures import Failure

logger = logging.getLogger(__name__)

CALL_SPANS = {
    "model": telemetry.SPAN_MODEL,
    "tool": telemetry.SPAN_TOOL,
    "mcp_tool": telemetry.SPAN_MCP,
    "agent_tool": telemetry.SPAN_AGENT,
    "agent": telemetry.SPAN_AGENT,
}
Attributes = dict[str, AttributeValue]


def _tracer() -> trace.Tracer:
    return telemetry.tracer(__name__)


def item_attributes(item: WorkItem) -> Attributes:
    return {
        telemetry.EXECUTION_ID: item.execution_id,
        telemetry.WORKFLOW_ID: item.workflow_id,
        telemetry.WORKFLOW_VERSION: item.workflow_version,
        telemetry.NODE_ID: item.node_id,
        telemetry.NODE_KIND: item.node.kind.tag,
    }


@contextmanager
def node_span(headers: Mapping[str, str] | None, item: WorkItem, worker_id: str) -> Iterator[Span]:
    """The current span while a delivery of ``item`` is handled, child of the item's trace context."""
    attributes = {**item_attributes(item), telemetry.WORKER_ID: worker_id}
    parent = telemetry.extract(headers)
    with _tracer().start_as_current_span(
        telemetry.SPAN_NODE, context=parent, kind=SpanKind.CONSUMER, attributes=attributes
    ) as span:
        yield span


def redelivered(queue: str) -> None:
    meters.instruments().redeliveries.add(1, {telemetry.QUEUE: queue})


async def traced_call(executor: Executor, ctx: ExecutionContext, capture: bool) -> ExecutionResult:
    """Run the executor, in a call span when it calls out of the process."""
    name = CALL_SPANS.get(ctx.node.kind.tag)
    if name is None:
        return await executor.execute(ctx)
    with _tracer().start_as_current_span(name, kind=SpanKind.CLIENT, attributes=call_attributes(ctx)) as span:
        if capture and (prompt := _prompt(ctx)) is not None:
            span.set_attribute(telemetry.GEN_AI_PROMPT, prompt)
        result = await executor.execute(ctx)
        span.set_attributes(result_attributes(result))
        if capture and (completion := _completion(ctx, result)) is not None:
            span.set_attribute(telemetry.GEN_AI_COMPLETION, completion)
        return result


def call_attributes(ctx: ExecutionContext) -> Attributes:
    kind = ctx.node.kind
    attributes = item_attributes(ctx.item)
    if isinstance(kind, ModelNode):
        attributes.update(model_request(ctx, kind))
    elif isinstance(kind, ToolNode):
        tool = ctx.item.resources.tool if ctx.item.resources is not None else None
        attributes[telemetry.TOOL_NAME] = kind.tool_ref
        attributes[telemetry.TOOL_PROTOCOL] = tool.kind if tool is not None else "unknown"
    elif isinstance(kind, McpToolNode):
        attributes[telemetry.TOOL_PROTOCOL] = "mcp"
        attributes[telemetry.MCP_SERVER] = kind.server
        attributes[telemetry.TOOL_NAME] = kind.tool
    elif isinstance(kind, AgentNode):
        attributes[telemetry.AGENT_URI] = kind.agent_ref
    elif isinstance(kind, AgentToolNode):
        attributes[telemetry.AGENT_URI] = _agent_uri(kind.agent)
    return attributes


def model_request(ctx: ExecutionContext, kind: ModelNode) -> Attributes:
    config = ctx.item.resources.model if ctx.item.resources is not None else None
    model = config.model if config is not None else kind.model_ref
    attributes: Attributes = {
        telemetry.GEN_AI_OPERATION: "chat",
        telemetry.GEN_AI_REQUEST_MODEL: model,
        telemetry.GEN_AI_SYSTEM: (config.provider if config is not None else None) or infer_system(model),
    }
    if config is not None and config.temperature is not None:
        attributes[telemetry.GEN_AI_TEMPERATURE] = config.temperature
    if config is not None and config.max_tokens is not None:
        attributes[telemetry.GEN_AI_MAX_TOKENS] = config.max_tokens
    return attributes


def result_attributes(result: ExecutionResult) -> Attributes:
    """The GenAI response attributes of a result that came from a model (none otherwise)."""
    found: dict[str, AttributeValue | None] = {
        telemetry.GEN_AI_RESPONSE_MODEL: result.gen_ai_model,
        telemetry.GEN_AI_INPUT_TOKENS: result.input_tokens,
        telemetry.GEN_AI_OUTPUT_TOKENS: result.output_tokens,
        telemetry.GEN_AI_FINISH_REASONS: [result.finish_reason] if result.finish_reason else None,
        telemetry.COST_USD: result.cost_usd,
    }
    return {key: value for key, value in found.items() if value is not None}


def node_outcome(ctx: ExecutionContext, outcome: ExecutionResult | Failure, elapsed_ms: int) -> None:
    """Mark the current (node) span with how the attempt ended, and record the node's metrics."""
    span = trace.get_current_span()
    kind = ctx.node.kind
    status = "error" if isinstance(outcome, Failure) else "ok"
    meters.instruments().node_duration.record(
        elapsed_ms, {telemetry.NODE_KIND: kind.tag, meters.STATUS: status}
    )
    if isinstance(outcome, Failure):
        span.set_status(Status(StatusCode.ERROR, outcome.error))
        return
    if isinstance(kind, ModelNode):
        request = model_request(ctx, kind)
        span.set_attributes({**request, **result_attributes(outcome)})
        meters.token_usage(outcome.input_tokens, outcome.output_tokens, _usage_attributes(request, outcome))


def _usage_attributes(request: Attributes, result: ExecutionResult) -> dict[str, str]:
    keys = (telemetry.GEN_AI_OPERATION, telemetry.GEN_AI_SYSTEM, telemetry.GEN_AI_REQUEST_MODEL)
    attributes = {key: str(request[key]) for key in keys}
    if result.gen_ai_model:
        attributes[telemetry.GEN_AI_RESPONSE_MODEL] = result.gen_ai_model
    return attributes


def _prompt(ctx: ExecutionContext) -> str | None:
    """The messages a model node sends, as JSON."""
    kind = ctx.node.kind
    if not isinstance(kind, ModelNode):
        return None
    try:
        sent = messages(ctx.node.id, kind, ctx.state)
    except Exception:  # the executor reports a prompt that does not render; the span goes without
        return None
    return telemetry.truncated(json.dumps(sent, default=str, ensure_ascii=False))


def _completion(ctx: ExecutionContext, result: ExecutionResult) -> str | None:
    output = result.output
    if isinstance(ctx.node.kind, ModelNode) and isinstance(output, dict) and "content" in output:
        return telemetry.truncated(str(output["content"]))
    return None


def _agent_uri(agent: Any) -> str:
    if isinstance(agent, str):
        return agent
    if isinstance(agent, dict):
        return str(agent.get("uri") or agent.get("url") or agent.get("id") or "")
    return ""


def queue_backlog(js: JetStreamContext, consumers: Mapping[str, str], interval: float) -> meters.Backlog:
    """The ``jamjet.queue.depth`` gauge's figures for this worker's queues (consumer name by queue)."""
    backlog = meters.Backlog(meters.QUEUE_DEPTH, "Work items not yet delivered, per queue", interval)
    for queue, consumer in consumers.items():
        backlog.watch({telemetry.QUEUE: queue}, partial(_pending, js, consumer))
    return backlog


async def _pending(js: JetStreamContext, consumer: str) -> int:
    return (await js.consumer_info(streams.WORK, consumer)).num_pending or 0
