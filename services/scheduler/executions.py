"""Driving executions forward: fold each event, plan, append the decisions, publish work items.

Work for one execution runs in its lane, in log order. Every append is conditional on the folded
tail; losing a race means another writer got there first, so the lane reads what it missed and plans
again. A failure drops the execution from memory and naks the event: the redelivery rebuilds it from
the log, which is also how a restarted scheduler picks up running executions.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from jamjet_common import subjects
from jamjet_common.codec import ENCODER
from jamjet_common.deadletter import dead_letter_decode
from jamjet_common.errors import AppendConflictError, FatalError, JamjetError
from jamjet_common.eventlog import MSG_ID, Appended, EventLog
from jamjet_common.events import (
    EVENT_DECODER,
    Event,
    EventKind,
    NodeFailed,
    NodeScheduled,
    NodeSkipped,
    TimerCreated,
    ToolApprovalRequired,
)
from jamjet_common.ir import HumanApprovalNode, WaitNode
from jamjet_common.messages import LogPosition, WorkItem
from services.scheduler import tracing
from services.scheduler.catalog import WorkflowCatalog
from services.scheduler.graph import Graph
from services.scheduler.lanes import Lanes
from services.scheduler.planner import SKIP_REASON, Limits, Plan, plan
from services.scheduler.progress import Dispatch, GapError, Progress
from services.scheduler.waits import WaitSpec

logger = logging.getLogger(__name__)
MAX_REPLANS = 50
MAX_FINISHED = 10000


class Executions:
    def __init__(
        self,
        nc: Client,
        js: JetStreamContext,
        catalog: WorkflowCatalog,
        limits: Limits,
        max_msg_bytes: int,
    ) -> None:
        self._nc = nc
        self._js = js
        self.log = EventLog(nc, js)
        self._catalog = catalog
        self._limits = limits
        self._max_msg_bytes = max_msg_bytes
        self._progress: dict[str, Progress] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()
        self.lanes = Lanes()
        self.on_terminal: Callable[[Progress, dict[str, Dispatch]], Awaitable[None]] | None = None
        self.on_load: Callable[[Progress, Graph], Awaitable[None]] | None = None
        self.on_held: Callable[[Progress, Graph, str, int], Awaitable[None]] | None = None
        self.on_wait: Callable[[Progress, WaitNode, str, int, datetime], Awaitable[None]] | None = None

    @property
    def tracked(self) -> int:
        return len(self._progress)

    # ---- entry points ----------------------------------------------------------------------------------

    def on_event(self, msg: Msg) -> None:
        tenant, execution_id = subjects.parse_events_subject(msg.subject)
        self.lanes.submit(execution_id, partial(self._on_event, tenant, execution_id, msg))

    def seed(self, tenant: str, execution_id: str, started: Appended) -> None:
        """Adopt an execution this scheduler just started, saving a read of its log."""
        if execution_id in self._progress:
            return
        progress = Progress(tenant, execution_id)
        progress.apply(started.event, started.tail.stream_seq, started.headers)
        self._progress[execution_id] = progress

    async def current(self, tenant: str, execution_id: str) -> Progress | None:
        """The execution's progress, read from the log if not in memory; None if it has no log."""
        progress = self._progress.get(execution_id)
        if progress is not None and progress.tenant != tenant:
            return None  # ids are unique across tenants: the asker's tenant has no such execution
        if progress is None:
            return await self._load(tenant, execution_id)
        await self.catch_up(progress)
        return progress

    async def append(self, progress: Progress, kind: EventKind) -> Appended:
        in_flight = dict(progress.in_flight)
        appended = await self.log.append_after(
            progress.tenant, progress.execution_id, kind, progress.tail, headers=progress.trace
        )
        progress.apply(appended.event, appended.tail.stream_seq)
        if progress.terminal:
            tracing.terminal(progress)
            self.forget(progress.execution_id, finished=True)
            if in_flight and self.on_terminal is not None:
                await self.on_terminal(progress, in_flight)
        return appended

    def forget(self, execution_id: str, *, finished: bool = False) -> None:
        self._progress.pop(execution_id, None)
        if finished:
            # Late events of a finished execution (outcomes of cancelled nodes) need no log read.
            self._finished[execution_id] = None
            if len(self._finished) > MAX_FINISHED:
                self._finished.popitem(last=False)

    # ---- events ----------------------------------------------------------------------------------------

    async def _on_event(self, tenant: str, execution_id: str, msg: Msg) -> None:
        try:
            event = EVENT_DECODER.decode(msg.data)
        except msgspec.DecodeError as exc:
            await dead_letter_decode(self._nc, msg, str(exc), "scheduler")
            return
        try:
            progress = await self._sync(tenant, execution_id, event, msg.metadata.sequence.stream)
            if progress is not None:
                await self._held(progress, event)
                await self._advance(progress)
        except Exception:
            logger.exception(
                "%s: failed on event %d; will rebuild from the log", execution_id, event.sequence
            )
            self.forget(execution_id)
            await msg.nak(delay=1.0)
            return
        await msg.ack()

    async def _sync(self, tenant: str, execution_id: str, event: Event, stream_seq: int) -> Progress | None:
        if execution_id in self._finished:
            return None
        progress = self._progress.get(execution_id)
        if progress is None:
            progress = await self._load(tenant, execution_id)
        else:
            try:
                progress.apply(event, stream_seq)
            except GapError:
                await self.catch_up(progress)
        if progress is None or progress.terminal:
            self.forget(execution_id, finished=progress is not None)
            return None
        return progress

    async def _load(self, tenant: str, execution_id: str) -> Progress | None:
        progress = Progress(tenant, execution_id)
        await self.catch_up(progress)
        if not progress.started:
            return None
        if not progress.terminal:
            self._progress[execution_id] = progress
            await self._republish_unstarted(progress)
            if self.on_load is not None:
                await self.on_load(progress, await self._graph(progress))
        return progress

    async def _held(self, progress: Progress, event: Event) -> None:
        kind = event.kind
        if self.on_held is None or not isinstance(kind, ToolApprovalRequired):
            return
        if progress.held.get(kind.node_id) == event.sequence:
            await self.on_held(progress, await self._graph(progress), kind.node_id, event.sequence)

    async def catch_up(self, progress: Progress) -> None:
        async for entry in self.log.read_entries(
            progress.tenant, progress.execution_id, after_stream_seq=progress.tail.stream_seq
        ):
            progress.apply(entry.event, entry.stream_seq, entry.headers)

    async def _republish_unstarted(self, progress: Progress) -> None:
        # A crash between NodeScheduled and the work item's publish must not strand the node; the
        # item's Nats-Msg-Id makes the republish a no-op when the first publish did land.
        pending = [d for d in progress.in_flight.values() if not d.started]
        if not pending:
            return
        graph = await self._graph(progress)
        for dispatch in pending:
            logger.info("%s: republishing work item of %s", progress.execution_id, dispatch.node_id)
            await self._publish_work(progress, graph, dispatch.node_id, dispatch)

    # ---- planning ----------------------------------------------------------------------------------------

    async def _graph(self, progress: Progress) -> Graph:
        return await self._catalog.get(progress.tenant, progress.workflow_id, progress.workflow_version)

    async def advance(self, progress: Progress) -> None:
        """Plan and act on the execution as it stands now (runs in its lane)."""
        await self._advance(progress)

    async def _advance(self, progress: Progress) -> None:
        graph = await self._graph(progress)
        for _ in range(MAX_REPLANS):
            decided = plan(progress, graph, self._limits)
            if not decided:
                return
            try:
                await self._apply(progress, graph, decided)
                return
            except AppendConflictError:
                await self.catch_up(progress)
                if progress.terminal:
                    self.forget(progress.execution_id, finished=True)
                    return
        raise JamjetError(f"{progress.execution_id}: gave up after {MAX_REPLANS} conflicting appends")

    async def _apply(self, progress: Progress, graph: Graph, decided: Plan) -> None:
        for node_id in decided.skips:
            await self.append(progress, NodeSkipped(node_id=node_id, reason=SKIP_REASON))
        # All NodeScheduled first, then the work items together: workers starting the first nodes
        # would otherwise race the scheduler's remaining appends to the same log.
        for kind in decided.decided:
            await self.append(progress, kind)
        for node_id in decided.dispatches:
            queue = graph.node(node_id).kind.queue_type
            appended = await self.append(progress, NodeScheduled(node_id=node_id, queue_type=queue))
            node = graph.node(node_id).kind
            if isinstance(node, HumanApprovalNode):
                await self._ask_human(progress, graph, node_id)
            elif isinstance(node, WaitNode):
                await self._start_wait(progress, node, node_id, appended)
            else:
                await self._publish_work(progress, graph, node_id, appended)
        if decided.finish is not None:
            await self.append(progress, decided.finish)
            logger.info("%s: %s", progress.execution_id, progress.terminal)

    async def _start_wait(
        self, progress: Progress, node: WaitNode, node_id: str, scheduled: Appended
    ) -> None:
        """Record the wait's timer; a signal that already came completes it at the next plan."""
        try:
            seconds = WaitSpec.of(node).timer_secs
        except FatalError:
            return  # the planner fails the node with the reason
        if seconds is None:
            return
        fire_at = scheduled.event.created_at + timedelta(seconds=seconds)
        created = TimerCreated(
            node_id=node_id, fire_at=fire_at.isoformat(), correlation_key=node.correlation_key
        )
        await self.append(progress, created)
        if self.on_wait is not None:
            await self.on_wait(progress, node, node_id, scheduled.event.sequence, scheduled.event.created_at)

    async def _ask_human(self, progress: Progress, graph: Graph, node_id: str) -> None:
        kind = graph.node(node_id).kind
        description = kind.description if isinstance(kind, HumanApprovalNode) else ""
        context = {"node_id": node_id, "description": description}
        ask = ToolApprovalRequired(node_id=node_id, tool_name=node_id, approver="human", context=context)
        appended = await self.append(progress, ask)
        if self.on_held is not None:
            await self.on_held(progress, graph, node_id, appended.event.sequence)

    async def _publish_work(
        self, progress: Progress, graph: Graph, node_id: str, scheduled: Appended | Dispatch
    ) -> None:
        if isinstance(scheduled, Dispatch):
            dispatch, position = scheduled.sequence, None
        else:
            dispatch = scheduled.event.sequence
            position = LogPosition(sequence=dispatch, stream_seq=scheduled.tail.stream_seq)
        item = WorkItem(
            execution_id=progress.execution_id,
            tenant=progress.tenant,
            workflow_id=progress.workflow_id,
            workflow_version=progress.workflow_version,
            node=graph.node(node_id),
            dispatch=dispatch,
            queue_type=graph.node(node_id).kind.queue_type,
            state=progress.state,
            workflow_policy=graph.ir.policy,
            retry=graph.retry_policy(node_id),
            timeout_secs=graph.timeout_secs(node_id),
            created_at=datetime.now(UTC),
            scheduled_at=position,
            resources=graph.resources(node_id),
            approved_by=progress.approvals.get(node_id),
            labels=graph.ir.labels,
        )
        payload = ENCODER.encode(item)
        if len(payload) > self._max_msg_bytes:
            error = f"work item is {len(payload)} bytes, over the {self._max_msg_bytes}-byte limit"
            await self.append(progress, NodeFailed(node_id=node_id, error=error, attempt=0, retryable=False))
            return
        headers = {**progress.trace, MSG_ID: item.item_id}
        ack = await self._js.publish(subjects.work(item.queue_type), payload, headers=headers)
        flight = progress.in_flight.get(node_id)
        if flight is not None and flight.sequence == dispatch:
            flight.work_seq = ack.seq
