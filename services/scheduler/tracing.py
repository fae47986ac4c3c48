"""An execution's trace, as the scheduler opens it and carries it on.

Starting an execution opens its ``jamjet.workflow`` span: a child of the start command's
``traceparent``, or a new root. The span's context is stored in the WorkflowStarted event's headers,
so that whichever scheduler folds the log later (after a restart, on another replica) puts the same
``traceparent`` on the execution's work items and events, and every service's spans join one trace.

The span ends as soon as the start is stored: a span object cannot outlive the process that opened
it, while an execution outlives schedulers, so the workflow span marks the start and is the parent of
everything that follows, whose spans carry the durations.
"""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

from jamjet_common import meters, telemetry
from services.scheduler.progress import Progress


def open_workflow_span(
    command_headers: Mapping[str, str] | None, execution_id: str, workflow_id: str, version: str
) -> Span:
    """The execution's root span, not yet ended: one that never ends (the start failed) is dropped."""
    return telemetry.tracer(__name__).start_span(
        telemetry.SPAN_WORKFLOW,
        context=telemetry.extract(command_headers),
        kind=SpanKind.SERVER,
        attributes={
            telemetry.EXECUTION_ID: execution_id,
            telemetry.WORKFLOW_ID: workflow_id,
            telemetry.WORKFLOW_VERSION: version,
        },
    )


def carrier(span: Span) -> dict[str, str]:
    """The ``traceparent`` header of ``span``: what to store with WorkflowStarted."""
    return telemetry.inject(ctx=trace.set_span_in_context(span))


def started(span: Span, tenant: str, workflow_id: str) -> None:
    span.end()
    meters.instruments().started.add(1, {telemetry.WORKFLOW_ID: workflow_id, "tenant": tenant})


def terminal(progress: Progress) -> None:
    attributes = {
        meters.STATUS: progress.terminal or "unknown",
        telemetry.WORKFLOW_ID: progress.workflow_id,
        "tenant": progress.tenant,
    }
    meters.instruments().terminal.add(1, attributes)
