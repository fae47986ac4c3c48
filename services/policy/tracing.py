"""The policy service's span: one ``jamjet.policy.evaluate`` per request, in the asker's trace."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import msgspec
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from jamjet_common import telemetry
from jamjet_common.router import Request


class _Asked(msgspec.Struct, frozen=True):
    execution_id: str | None = None
    workflow_id: str | None = None


class _Error(msgspec.Struct, frozen=True):
    code: str = "error"
    message: str = ""


class _Answered(msgspec.Struct, frozen=True):
    ok: bool = True
    decision: str | None = None
    error: _Error | None = None


class EvaluateTracing:
    """The router's tracing for ``jamjet.policy.evaluate``."""

    @contextmanager
    def span(self, request: Request) -> Iterator[Span]:
        """A child of the request's ``traceparent`` (the worker's node span)."""
        with telemetry.tracer(__name__).start_as_current_span(
            telemetry.SPAN_POLICY, context=telemetry.extract(request.headers), kind=SpanKind.SERVER
        ) as span:
            yield span

    def describe(self, span: Span, request: Request, reply: bytes) -> None:
        describe(span, request.data, reply)


def describe(span: Span, request: bytes, reply: bytes) -> None:
    """What was asked and decided, read again only when the span is recorded."""
    if not span.is_recording():
        return
    try:
        asked = msgspec.json.decode(request, type=_Asked)
        answered = msgspec.json.decode(reply, type=_Answered)
    except msgspec.DecodeError:
        return  # the reply already says what was wrong with the request
    if asked.execution_id:
        span.set_attribute(telemetry.EXECUTION_ID, asked.execution_id)
    if asked.workflow_id:
        span.set_attribute(telemetry.WORKFLOW_ID, asked.workflow_id)
    if answered.decision:
        span.set_attribute(telemetry.POLICY_DECISION, answered.decision)
    if not answered.ok and answered.error is not None:
        span.set_status(Status(StatusCode.ERROR, f"{answered.error.code}: {answered.error.message}"))
