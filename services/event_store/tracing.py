"""The event store's telemetry: a span per written batch, and the lag of its events consumer.

A batch holds events of many executions, so its span is a root of its own, linked to the trace
context each event was appended with rather than parented by any one of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span
from opentelemetry.util.types import AttributeValue

from jamjet_common import meters, streams, telemetry

BATCH_SIZE = "messaging.batch.message_count"


@contextmanager
def batch_span(consumer: str, msgs: Sequence[Msg]) -> Iterator[Span]:
    links = [Link(context) for msg in msgs if (context := _context_of(msg)) is not None]
    attributes: dict[str, AttributeValue] = {meters.CONSUMER: consumer, BATCH_SIZE: len(msgs)}
    with telemetry.tracer(__name__).start_as_current_span(
        telemetry.SPAN_STORE_WRITE, context=Context(), links=links, attributes=attributes
    ) as span:
        yield span


def _context_of(msg: Msg) -> trace.SpanContext | None:
    if not msg.headers or telemetry.TRACEPARENT not in msg.headers:
        return None
    context = trace.get_current_span(telemetry.extract(msg.headers)).get_span_context()
    return context if context.is_valid else None


def lag_backlog(js: JetStreamContext, interval: float) -> meters.Backlog:
    """The ``jamjet.event_store.lag`` gauge: events appended but not yet delivered to the store."""
    backlog = meters.Backlog(meters.EVENT_STORE_LAG, "Events not yet delivered to the event store", interval)

    async def pending() -> int:
        info = await js.consumer_info(streams.EVENTS, streams.EVENT_STORE_CONSUMER)
        return info.num_pending or 0

    backlog.watch({meters.CONSUMER: streams.EVENT_STORE_CONSUMER}, pending)
    return backlog
