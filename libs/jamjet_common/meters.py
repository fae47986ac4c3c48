"""The runtime's metrics (meter ``jamjet``): its instruments, and gauges of consumer backlogs.

Instruments are made on the global meter provider; until one is installed (``telemetry.setup`` with an
OTLP endpoint, or a test's in-memory reader) they are no-ops. A backlog gauge cannot ask NATS from the
SDK's synchronous callback, so each :class:`Backlog` polls its consumers' ``num_pending`` in the
background and the gauge reports the latest figures of every live backlog of the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Counter, Histogram, Observation

from jamjet_common import telemetry

logger = logging.getLogger(__name__)

METER = "jamjet"
TOKEN_USAGE = "gen_ai.client.token.usage"
EXECUTIONS_STARTED = "jamjet.executions.started"
EXECUTIONS_TERMINAL = "jamjet.executions.terminal"
NODE_DURATION = "jamjet.node.duration_ms"
REDELIVERIES = "jamjet.queue.redeliveries"
QUEUE_DEPTH = "jamjet.queue.depth"
EVENT_STORE_LAG = "jamjet.event_store.lag"
STATUS = "status"
CONSUMER = "jamjet.consumer"

Probe = Callable[[], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class Instruments:
    token_usage: Histogram
    started: Counter
    terminal: Counter
    node_duration: Histogram
    redeliveries: Counter


@functools.cache
def instruments() -> Instruments:
    meter = metrics.get_meter(METER)
    return Instruments(
        token_usage=meter.create_histogram(
            TOKEN_USAGE, unit="{token}", description="Tokens used per model call, by gen_ai.token.type"
        ),
        started=meter.create_counter(EXECUTIONS_STARTED, description="Executions started"),
        terminal=meter.create_counter(EXECUTIONS_TERMINAL, description="Executions ended, by status"),
        node_duration=meter.create_histogram(
            NODE_DURATION, unit="ms", description="Time an executor took for one node attempt"
        ),
        redeliveries=meter.create_counter(
            REDELIVERIES, description="Work items delivered again (num_delivered > 1), by queue"
        ),
    )


def token_usage(input_tokens: int | None, output_tokens: int | None, attributes: Mapping[str, str]) -> None:
    """Two points per model call, as the GenAI conventions have it: input and output."""
    histogram = instruments().token_usage
    for kind, count in (("input", input_tokens), ("output", output_tokens)):
        if count is not None:
            histogram.record(count, {**attributes, telemetry.GEN_AI_TOKEN_TYPE: kind})


class _Gauge:
    """One observable gauge per process, reporting every live backlog of its name."""

    def __init__(self, name: str, description: str) -> None:
        self.backlogs: set[Backlog] = set()
        metrics.get_meter(METER).create_observable_gauge(
            name, callbacks=[self._observe], unit="{message}", description=description
        )

    def _observe(self, options: CallbackOptions) -> Iterable[Observation]:
        return [observation for backlog in list(self.backlogs) for observation in backlog.observations()]


@functools.cache
def _gauge(name: str, description: str) -> _Gauge:
    return _Gauge(name, description)


class Backlog:
    """Messages pending on some consumers, polled every ``interval`` seconds while started."""

    def __init__(self, name: str, description: str, interval: float) -> None:
        self._gauge = _gauge(name, description)
        self._interval = interval
        self._probes: list[tuple[dict[str, str], Probe]] = []
        self._latest: dict[tuple[tuple[str, str], ...], int] = {}
        self._task: asyncio.Task[None] | None = None

    def watch(self, attributes: Mapping[str, str], probe: Probe) -> None:
        self._probes.append((dict(attributes), probe))

    def start(self) -> None:
        """Poll in the background; only if some meter provider records metrics."""
        if self._task is None and telemetry.metrics_enabled():
            self._gauge.backlogs.add(self)
            self._task = asyncio.create_task(self._poll(), name="metrics-backlog")

    async def stop(self) -> None:
        self._gauge.backlogs.discard(self)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def observations(self) -> list[Observation]:
        return [Observation(value, dict(key)) for key, value in self._latest.items()]

    async def _poll(self) -> None:
        while True:
            for attributes, probe in self._probes:
                await self._sample(attributes, probe)
            await asyncio.sleep(self._interval)

    async def _sample(self, attributes: dict[str, str], probe: Probe) -> None:
        try:
            self._latest[tuple(sorted(attributes.items()))] = await probe()
        except Exception as exc:  # NATS away for a moment: keep the last figure
            logger.debug("backlog probe %s failed: %r", attributes, exc)
