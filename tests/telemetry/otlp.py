"""A minimal OTLP/HTTP receiver on 127.0.0.1: protobuf ``POST /v1/traces`` and ``/v1/metrics``."""

from __future__ import annotations

import gzip
import threading
import zlib
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.telemetry.prometheus import MetricShape


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    trace_id: int
    span_id: int
    parent_span_id: int | None
    attributes: dict[str, Any]
    error: bool


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return tuple(_value(v) for v in any_value.array_value.values)
    return getattr(any_value, kind) if kind else None


def _int(raw: bytes) -> int | None:
    return int.from_bytes(raw, "big") if raw else None


def _spans(request: ExportTraceServiceRequest) -> list[ReceivedSpan]:
    out = []
    for resource in request.resource_spans:
        attributes = {kv.key: _value(kv.value) for kv in resource.resource.attributes}
        service = str(attributes.get("service.name", ""))
        for scope in resource.scope_spans:
            for span in scope.spans:
                out.append(
                    ReceivedSpan(
                        service=service,
                        name=span.name,
                        trace_id=int.from_bytes(span.trace_id, "big"),
                        span_id=int.from_bytes(span.span_id, "big"),
                        parent_span_id=_int(span.parent_span_id),
                        attributes={kv.key: _value(kv.value) for kv in span.attributes},
                        error=span.status.code == span.status.STATUS_CODE_ERROR,
                    )
                )
    return out


def _metric_shapes(request: ExportMetricsServiceRequest) -> set[MetricShape]:
    return {
        MetricShape(m.name, m.unit, m.WhichOneof("data") == "sum" and m.sum.is_monotonic)
        for r in request.resource_metrics
        for s in r.scope_metrics
        for m in s.metrics
    }


class OtlpReceiver:
    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.metrics: set[MetricShape] = set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def received(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self.spans)

    def metric_names(self) -> set[str]:
        return {shape.name for shape in self.metric_shapes()}

    def metric_shapes(self) -> set[MetricShape]:
        with self._lock:
            return set(self.metrics)

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _accept(self, path: str, body: bytes) -> bytes | None:
        if path == "/v1/traces":
            traces = ExportTraceServiceRequest.FromString(body)
            with self._lock:
                self.spans.extend(_spans(traces))
            return ExportTraceServiceResponse().SerializeToString()
        if path == "/v1/metrics":
            metrics = ExportMetricsServiceRequest.FromString(body)
            with self._lock:
                self.metrics |= _metric_shapes(metrics)
            return ExportMetricsServiceResponse().SerializeToString()
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = _inflated(
                    self.headers.get("Content-Encoding"), self.rfile.read(int(self.headers["Content-Length"]))
                )
                answer = receiver._accept(self.path, body)
                self.send_response(404 if answer is None else 200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer or b"")))
                self.end_headers()
                self.wfile.write(answer or b"")

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler


def _inflated(encoding: str | None, body: bytes) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    return body
