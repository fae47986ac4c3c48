"""In-memory trace and metric capture on the process-wide providers, which in-process services share.

OpenTelemetry lets a process set its providers once, so they are installed on first use and kept;
between the telemetry tests a switch keeps other tests' spans out of memory.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


class Switch(SpanProcessor):
    """Passes ended spans on only while on."""

    def __init__(self, inner: SpanProcessor) -> None:
        self.inner = inner
        self.on = False

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        if self.on:
            self.inner.on_end(span)

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


@dataclass
class Captured:
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    switch: Switch

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def points(self, name: str) -> list[Any]:
        """Every data point of the metric called ``name`` collected so far (cumulative)."""
        data = self.reader.get_metrics_data()
        if data is None:
            return []
        return [
            point for metric in _metrics(data) if metric.name == name for point in metric.data.data_points
        ]


def _metrics(data: Any) -> Iterator[Any]:
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            yield from scope.metrics


@functools.cache
def installed() -> Captured:
    exporter = InMemorySpanExporter()
    switch = Switch(SimpleSpanProcessor(exporter))
    provider = TracerProvider()
    provider.add_span_processor(switch)
    trace.set_tracer_provider(provider)
    assert trace.get_tracer_provider() is provider, "another tracer provider was installed first"
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    metrics.set_meter_provider(meter_provider)
    assert metrics.get_meter_provider() is meter_provider, "another meter provider was installed first"
    return Captured(exporter, reader, switch)
