"""Driving executions forward: fold each event, plan, append the decisions, publish work items.

Work for one execution runs in its lane, in log order. Every append is conditional on the folded
tail; losing a race means another writer got there first, so the lane reads what it missed and plans
again. A failure drops the execution from memory and naks the event: the redelivery rebuilds it from
the log, which is also how a restarted scheduler picks up running executions.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Protocol

import msgspec
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from jamjet_common import subjects
from jamjet_common.codec import ENCODER
from jamjet_common.deadletter import dead_letter_decode
from jamjet_common.dedup import DispatchKeys
from jamjet_common.delivery import delivery
from jamjet_common.errors import (
    AppendConflictError,
    ConflictError,
    FatalError,
    JamjetError,
    RetryableError,
    bus_failure,
)
from jamjet_common.eventlog import EMPTY, Appended, EventLog, Link, Tail, Unreadable, chain, new_event
from jamjet_common.events import (
    EVENT_DECODER,
    Event,
    EventKind,
    NodeCompleted,
    NodeFailed,
    NodeScheduled,
    NodeSkipped,
    NodeStarted,
    TimerCreated,
    ToolApprovalRequired,
    WorkflowStarted,
)
from jamjet_common.held_ack import HeldAck
from jamjet_common.ir import HumanApprovalNode, WaitNode
from jamjet_common.messages import LogPosition, WorkItem
from jamjet_common.publisher import MSG_ID
from services.scheduler import tracing
from services.scheduler.catalog import WorkflowCatalog
from services.scheduler.graph import Graph
from services.scheduler.inline import InlineRuns, runs_inline
from services.scheduler.lanes import Lanes, run_in_lane
from services.scheduler.planner import SKIP_REASON, Limits, Plan, plan
from services.scheduler.progress import Dispatch, GapError, Progress
from services.scheduler.waits import WaitSpec
from services.worker.history import Attempt

logger = logging.getLogger(__name__)
MAX_REPLANS = 50
MAX_PASSES = 16
"""Plan passes in one go: one per per-pass cap's worth of ready nodes, or per decision acted on."""
MAX_FINISHED = 10000
MAX_DELIVERIES = 12
"""Deliveries of an event the scheduler keeps failing on (not for the bus's failures) before it is
dead-lettered: about 4 minutes of redeliveries with backoff."""
MAX_REDELIVERY_DELAY = 30.0


def transient(exc: Exception) -> bool:
    """A failure of the bus or a lost race, which passes: not a reason to give up on an event."""
    return bus_failure(exc) or isinstance(exc, RetryableError)


class LogBehindError(JamjetError):
    """The log read ended before the event in hand (a lagging replica served it): read again later.

    Not transient: a log that stays behind (purged, say) must not hold its event forever."""

    code = "log_behind"
    retryable = True


class Holds(Protocol):
    """Durable timers of what an execution holds: approval deadlines and wait timers."""

    async def ensure(self, progress: Progress, graph: Graph) -> None: ...

    async def ensure_approval(self, progress: Progress, graph: Graph, node_id: str, hold: int) -> None: ...

    async def ensure_wait(
        self, progress: Progress, node: WaitNode, node_id: str, hold: int, since: datetime
    ) -> None: ...


class OnTerminal(Protocol):
    """Stops the work of dispatches still in flight when an execution ends."""

    async def __call__(self, progress: Progress, in_flight: dict[str, Dispatch]) -> None: ...


class Executions:
    def __init__(
        self,
        nc: Client,
        js: JetStreamContext,
        log: EventLog,
        catalog: WorkflowCatalog,
        holds: Holds,
        on_terminal: OnTerminal,
        limits: Limits,
        max_msg_bytes: int,
        max_deliveries: int = MAX_DELIVERIES,
    ) -> None:
        self._nc = nc
        self._js = js
        self.log = log
        self._catalog = catalog
        self._holds = holds
        self._on_terminal = on_terminal
        self._limits = limits
        self._max_msg_bytes = max_msg_bytes
        self._max_deliveries = max_deliveries
        self._progress: dict[str, Progress] = {}
        self._finished: OrderedDict[str, None] = OrderedDict()
        self.lanes = Lanes()
        self.acks = HeldAck(ride_along=True)
        """Events are acknowledged one behind, so that JAMJET_SCHED_EVENTS does not empty (``held_ack``),
        and with the log's next append, which shares their socket write."""
        log.publisher.before_publish = self.acks.release
        self.owns: Callable[[str], bool] = lambda execution_id: True
        """Whether this replica plans the execution (its partition's lease); commands may reach others."""
        self.stamp: Callable[[str], dict[str, str]] = lambda execution_id: {}
        """Headers naming the planner, on every event this scheduler appends."""
        self.plan_at_start: Callable[[], bool] = lambda: True
        """Whether a start plans its execution at once (not while commands wait: see ``priority``)."""
        self.inline: InlineRuns | None = None
        """Nodes this scheduler runs itself instead of publishing their work items (``inline``)."""

    @property
    def tracked(self) -> int:
        return len(self._progress)

    # ---- entry points ----------------------------------------------------------------------------------

    def on_event(self, msg: Msg) -> None:
        tenant, execution_id = subjects.parse_events_subject(msg.subject)
        self.on_event_of(tenant, execution_id, msg, delivery(msg).stream_seq)

    def on_event_of(self, tenant: str, execution_id: str, msg: Msg, stream_seq: int) -> None:
        """Fold and plan on ``msg``, the event at ``stream_seq`` of the EVENTS stream."""
        self.lanes.submit(execution_id, partial(self._on_event, tenant, execution_id, msg, stream_seq))

    async def start(
        self, tenant: str, execution_id: str, kind: WorkflowStarted, headers: Mapping[str, str]
    ) -> Appended:
        """Append an execution's first event (only if the id has no log in any tenant, else raise
        :class:`AppendConflictError`) and plan the execution at once. When the stream looks quiet, the
        start is the head of its first pass, both in one round trip (``_start_ahead``)."""
        if execution_id not in self._progress and self.owns(execution_id) and self.plan_at_start():
            behind = self.log.quiet_position()
            if behind is not None:
                ahead = await run_in_lane(
                    self.lanes,
                    execution_id,
                    lambda: self._start_ahead(tenant, execution_id, kind, headers, behind),
                )
                if ahead is not None:
                    return ahead
        appended = await self.log.append_first(tenant, execution_id, kind, headers=headers)
        self.seed(tenant, execution_id, appended)
        return appended

    async def _start_ahead(
        self, tenant: str, execution_id: str, kind: WorkflowStarted, headers: Mapping[str, str], behind: int
    ) -> Appended | None:
        """The start folded before it lands, the first pass planned on it, and both appended as one
        chain right behind the stream's last message when the pass is one inline dispatch or the finish
        (``_links_behind``); if the start lands elsewhere, the rest of the pass follows it as usual.
        None: no chain to append (the start is appended alone, its pass planned after the reply)."""
        head = Link(new_event(execution_id, 1, kind), headers)
        progress = Progress(tenant, execution_id)
        progress.apply(head.event, behind + 1, headers)
        self._progress[execution_id] = progress
        try:
            graph = await self._graph(progress)
            decided = plan(progress, graph, self._limits)
            links, item = self._links_behind(progress, graph, decided, head)
            if len(links) == 1:
                self.forget(execution_id)
                return None
            first = await self._append_pass(progress, decided, links, item, EMPTY, behind)
        except BaseException:
            self.forget(execution_id)
            raise
        if first is None:  # forgotten by the pass: the id has a log, here or in another tenant
            raise AppendConflictError(f"{execution_id} already has a log")
        return first

    def seed(self, tenant: str, execution_id: str, started: Appended) -> None:
        """Adopt an execution this scheduler just started, saving a read of its log; its WorkflowStarted,
        coming back through the partition, plans it if the first plan does not happen here."""
        if execution_id in self._progress or not self.owns(execution_id):
            return
        progress = Progress(tenant, execution_id)
        progress.apply(started.event, started.tail.stream_seq, started.headers)
        self._progress[execution_id] = progress
        if self.plan_at_start():
            self.lanes.submit(execution_id, partial(self._first_plan, progress))

    async def _first_plan(self, progress: Progress) -> None:
        """Plan a just-started execution at once, ahead of any command queued after its start, instead of
        when its WorkflowStarted comes back through the partition; that delivery redoes what fails here."""
        try:
            await self.advance(progress)
        except Exception:
            logger.warning(
                "%s: first plan failed; the start event retries it", progress.execution_id, exc_info=True
            )
            self.forget(progress.execution_id)

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
            progress.tenant, progress.execution_id, kind, progress.tail, headers=self._headers(progress)
        )
        await self._fold_landed(progress, [appended], in_flight)
        return appended

    def _headers(self, progress: Progress) -> dict[str, str]:
        """Of every event this scheduler appends: the workflow's trace context and who planned it."""
        return {**progress.trace, **self.stamp(progress.execution_id)}

    async def _fold_landed(
        self, progress: Progress, landed: list[Appended], in_flight: dict[str, Dispatch]
    ) -> None:
        """Fold what this scheduler appended; a terminal event ends the execution here (``in_flight``:
        the nodes in flight before it, stopped)."""
        for appended in landed:
            progress.apply(appended.event, appended.tail.stream_seq)
        if progress.terminal:
            tracing.terminal(progress)
            self.forget(progress.execution_id, finished=True)
            if in_flight:
                await self._on_terminal(progress, in_flight)

    def forget(self, execution_id: str, *, finished: bool = False) -> None:
        self._progress.pop(execution_id, None)
        if finished:
            # Late events of a finished execution (outcomes of cancelled nodes) need no log read.
            self._finished[execution_id] = None
            if len(self._finished) > MAX_FINISHED:
                self._finished.popitem(last=False)

    # ---- events ----------------------------------------------------------------------------------------

    async def _on_event(self, tenant: str, execution_id: str, msg: Msg, stream_seq: int) -> None:
        if not self.owns(execution_id):
            # Its partition moved while the event waited in the lane: the new owner gets it again.
            await msg.nak(delay=1.0)
            return
        if self._done_with(execution_id, stream_seq):
            await self._settle(execution_id, msg)
            return
        try:
            event = EVENT_DECODER.decode(msg.data)
        except msgspec.DecodeError as exc:
            await dead_letter_decode(self._nc, msg, exc, "scheduler")
            return
        try:
            progress = await self._sync(tenant, execution_id, event, stream_seq)
            if progress is not None and (refused := progress.refused.pop(stream_seq, None)):
                await dead_letter_decode(self._nc, msg, refused, "scheduler")
                return
            if progress is not None:
                await self._held(progress, event)
                if stream_seq > progress.planned and not self._plans_nothing(progress, event):
                    await self.advance(progress)
        except Exception as exc:
            self.forget(execution_id)
            await self._failed_on(msg, event, exc)
            return
        await self._settle(execution_id, msg)

    def _done_with(self, execution_id: str, stream_seq: int) -> bool:
        """Whether the event at ``stream_seq`` is folded and planned on already (this scheduler's own
        append, mostly), and needs no decoding: nothing holds for a human, no refusal waits to be told."""
        progress = self._progress.get(execution_id)
        return (
            progress is not None
            and stream_seq <= progress.planned
            and not progress.held
            and stream_seq not in progress.refused
        )

    async def _settle(self, execution_id: str, msg: Msg) -> None:
        if self.inline is None or not self.inline.hold(execution_id, msg):
            await self.acks.ack(msg)

    def _plans_nothing(self, progress: Progress, event: Event) -> bool:
        """An attempt's start changes nothing a plan reads (the node stays in flight): no pass for it, as
        for half the events of a step. Unless it ran inline elsewhere: the pass gives it to a worker."""
        kind = event.kind
        if not isinstance(kind, NodeStarted):
            return False
        if not runs_inline(kind.worker_id):
            return True
        dispatch = progress.in_flight.get(kind.node_id)
        return dispatch is not None and self._runs_here(progress, dispatch)

    def _runs_here(self, progress: Progress, dispatch: Dispatch) -> bool:
        """Whether ``dispatch`` is running inline in this scheduler now."""
        return self.inline is not None and self.inline.running(progress.execution_id, dispatch.sequence)

    async def _failed_on(self, msg: Msg, event: Event, exc: Exception) -> None:
        """Redeliver later (the redelivery rebuilds the execution); a bounded number of times, unless
        the failure is the bus's (an outage must not cost an execution its events)."""
        delivered = delivery(msg).num_delivered
        if not transient(exc) and delivered >= self._max_deliveries:
            error = f"the scheduler failed on this event {delivered} times; last error: {exc!r}"
            await dead_letter_decode(self._nc, msg, FatalError(error, code="gave_up"), "scheduler")
            return
        logger.exception(
            "%s: failed on event %d; will rebuild from the log", event.execution_id, event.sequence
        )
        delay = 1.0 if transient(exc) else min(2.0 ** (delivered - 1), MAX_REDELIVERY_DELAY)
        await msg.nak(delay=delay)

    async def _sync(self, tenant: str, execution_id: str, event: Event, stream_seq: int) -> Progress | None:
        if execution_id in self._finished:
            return None
        progress = self._progress.get(execution_id)
        if progress is None:
            progress = await self._load(tenant, execution_id)
        else:
            try:
                await self._fold(progress, event, stream_seq)
            except GapError:
                await self.catch_up(progress)
        if progress is None:
            await self._not_behind((await self.log.tail(tenant, execution_id)).stream_seq, stream_seq)
            self.forget(execution_id)
            return None
        await self._not_behind(progress.tail.stream_seq, stream_seq)
        if progress.terminal:
            self.forget(execution_id, finished=True)
            return None
        return progress

    @staticmethod
    async def _not_behind(read_up_to: int, stream_seq: int) -> None:
        """The event in hand is in the log: a read that ends before it was served by a replica that
        lags (direct gets on an R3 stream), and acting on it would lose the event."""
        if read_up_to < stream_seq:
            raise LogBehindError(f"the log read ended at {read_up_to}, before the event at {stream_seq}")

    async def _load(self, tenant: str, execution_id: str) -> Progress | None:
        progress = Progress(tenant, execution_id)
        await self.catch_up(progress)
        if not progress.started:
            return None
        if not progress.terminal and self.owns(execution_id):
            self._progress[execution_id] = progress
            try:
                await self._resume(progress, await self._graph(progress))
            except Exception:
                self.forget(execution_id)  # the next look reads the log and resumes again
                raise
        return progress

    async def _held(self, progress: Progress, event: Event) -> None:
        kind = event.kind
        if not isinstance(kind, ToolApprovalRequired):
            return
        if progress.held.get(kind.node_id) == event.sequence:
            await self._holds.ensure_approval(
                progress, await self._graph(progress), kind.node_id, event.sequence
            )

    async def catch_up(self, progress: Progress) -> None:
        async for entry in self.log.read_entries(
            progress.tenant, progress.execution_id, after_stream_seq=progress.tail.stream_seq
        ):
            if isinstance(entry, Unreadable):
                progress.step_over(entry.stream_seq, entry.error)
            else:
                await self._fold(progress, entry.event, entry.stream_seq, entry.headers, from_log=True)

    async def _fold(
        self,
        progress: Progress,
        event: Event,
        stream_seq: int,
        headers: dict[str, str] | None = None,
        *,
        from_log: bool = False,
    ) -> None:
        """Fold an event another writer appended (this scheduler's own are folded as it appends them)."""
        kind = event.kind
        if isinstance(kind, NodeScheduled) and progress.started:
            await self._graph(progress)  # the fold checks a dispatch against the workflow
        if progress.apply(event, stream_seq, headers, from_log=from_log) and isinstance(kind, NodeScheduled):
            progress.foreign.add(kind.node_id)

    async def _resume(self, progress: Progress, graph: Graph) -> None:
        """Pick up a loaded execution's unstarted dispatches where a stopped scheduler left them.

        A crash between NodeScheduled and the work item's publish must not strand the node, so a
        worker's node gets its work item again (its Nats-Msg-Id makes the republish a no-op when the
        first publish did land). A node the scheduler holds is never given to a worker: a human
        approval not asked yet is asked now, and the holds' timers are ensured.
        """
        for dispatch in [d for d in progress.in_flight.values() if not d.started]:
            await self._take_up(progress, graph, dispatch)
        progress.foreign.clear()
        await self._orphans(progress, graph)
        await self._holds.ensure(progress, graph)

    async def _adopt(self, progress: Progress, graph: Graph) -> None:
        """Dispatches another writer recorded and the fold accepted (a replica that stopped before its
        work item, or a forged but possible NodeScheduled) get what this scheduler gives its own: else
        the node would wait for a work item nobody publishes."""
        await self._orphans(progress, graph)
        if not progress.foreign:
            return
        for node_id in sorted(progress.foreign):
            dispatch = progress.in_flight.get(node_id)
            if dispatch is not None and not dispatch.started:
                await self._take_up(progress, graph, dispatch)
            progress.foreign.discard(node_id)
        await self._holds.ensure(progress, graph)

    async def _orphans(self, progress: Progress, graph: Graph) -> None:
        """Started dispatches whose attempt ran inside a scheduler and runs there no more (it died, or
        stopped and released it): no work item holds them, so one is published. Its worker reads the
        dispatch's history first: a lapsed attempt is failed and retried, a released one run again."""
        for dispatch in list(progress.in_flight.values()):
            if not runs_inline(dispatch.started_by):
                continue
            if self._runs_here(progress, dispatch):
                continue
            logger.info(
                "%s: %s ran inline and stopped; a worker takes it", progress.execution_id, dispatch.node_id
            )
            await self._publish_work(progress, graph, dispatch.node_id, dispatch)
            dispatch.started_by = None

    async def _take_up(self, progress: Progress, graph: Graph, dispatch: Dispatch) -> None:
        node_id = dispatch.node_id
        kind = graph.node(node_id).kind
        if isinstance(kind, HumanApprovalNode):
            if node_id not in progress.held and node_id not in progress.decided:
                await self._ask_human(progress, graph, node_id)
        elif not kind.held_by_scheduler:
            logger.info("%s: publishing the work item of %s", progress.execution_id, node_id)
            await self._publish_work(progress, graph, node_id, dispatch)

    # ---- the conflict loop -------------------------------------------------------------------------------

    async def write[T](
        self,
        tenant: str,
        execution_id: str,
        step: Callable[[Progress | None], Awaitable[T]],
        fresh: Progress | None = None,
    ) -> T:
        """Run ``step`` on the live execution (None: it has no log) until its appends land.

        Every append is conditional on the folded tail; losing a race means another writer got there
        first, so ``step`` runs again on the log as it now stands. ``fresh``: the execution as the
        caller just folded it, which saves the first read.
        """
        for attempt in range(MAX_REPLANS):
            progress = (
                fresh if attempt == 0 and fresh is not None else await self.current(tenant, execution_id)
            )
            try:
                return await step(progress)
            except AppendConflictError:
                continue
        raise ConflictError(f"execution '{execution_id}' is too busy; try again", code="busy")

    async def record[K: EventKind](
        self, tenant: str, execution_id: str, decide: Callable[[Progress | None], K | None]
    ) -> K | None:
        """Append what ``decide`` makes of the live execution (None: nothing), then plan what follows."""

        async def step(progress: Progress | None) -> K | None:
            kind = decide(progress)
            if kind is not None and progress is not None:
                await self.append(progress, kind)
            return kind

        kind = await self.write(tenant, execution_id, step)
        progress = self._progress.get(execution_id)
        if kind is not None and progress is not None and self.owns(execution_id):
            await self.advance(progress)
        return kind

    # ---- planning ----------------------------------------------------------------------------------------

    async def _graph(self, progress: Progress) -> Graph:
        if progress.graph is None:
            progress.graph = await self._catalog.get(
                progress.tenant, progress.workflow_id, progress.workflow_version
            )
        return progress.graph

    async def advance(self, progress: Progress) -> None:
        """Plan and act on the execution as it stands now (runs in its lane): pass after pass, while a
        pass leaves something for the next (``Plan.complete``); then the tail is planned on."""
        for _ in range(MAX_PASSES):
            decided = await self.write(
                progress.tenant, progress.execution_id, self._plan_and_apply, fresh=progress
            )
            if decided is None or decided.complete:
                progress.planned = progress.tail.stream_seq
                return
            if not decided:
                return  # held back by the concurrency limit: the event that frees room plans again

    async def _plan_and_apply(self, progress: Progress | None) -> Plan | None:
        if progress is None or progress.terminal:
            if progress is not None:
                self.forget(progress.execution_id, finished=True)
            return None
        graph = await self._graph(progress)
        await self._adopt(progress, graph)
        decided = plan(progress, graph, self._limits)
        if decided:
            await self._apply(progress, graph, decided)
        return decided

    async def _apply(self, progress: Progress, graph: Graph, decided: Plan) -> None:
        work: list[tuple[str, Appended]] = []
        try:
            await self._apply_all(progress, graph, decided, work)
        finally:
            # The work items once the pass appended all it could (or failed): a worker or an inline run
            # starting the first node would otherwise race the pass's remaining appends to the log.
            for node_id, scheduled in work:
                await self._publish_work(progress, graph, node_id, scheduled, alone=len(work) == 1)
            if self.inline is not None:
                self.inline.launch()

    async def _apply_all(
        self, progress: Progress, graph: Graph, decided: Plan, work: list[tuple[str, Appended]]
    ) -> None:
        for node_id in decided.skips:
            await self.append(progress, NodeSkipped(node_id=node_id, reason=SKIP_REASON))
        for kind in decided.decided:
            await self.append(progress, kind)
        for node_id in decided.dispatches:
            queue = graph.node(node_id).kind.queue_type
            scheduled = NodeScheduled(node_id=node_id, queue_type=queue)
            if (lone := self._lone_inline(progress, graph, decided, node_id)) is not None:
                await self._start_inline(progress, scheduled, lone)
                continue
            appended = await self.append(progress, scheduled)
            node = graph.node(node_id).kind
            if isinstance(node, HumanApprovalNode):
                await self._ask_human(progress, graph, node_id)
            elif isinstance(node, WaitNode):
                await self._start_wait(progress, node, node_id, appended)
            else:
                work.append((node_id, appended))
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
        await self._holds.ensure_wait(
            progress, node, node_id, scheduled.event.sequence, scheduled.event.created_at
        )

    async def _ask_human(self, progress: Progress, graph: Graph, node_id: str) -> None:
        kind = graph.node(node_id).kind
        description = kind.description if isinstance(kind, HumanApprovalNode) else ""
        context = {"node_id": node_id, "description": description}
        ask = ToolApprovalRequired(node_id=node_id, tool_name=node_id, approver="human", context=context)
        appended = await self.append(progress, ask)
        await self._holds.ensure_approval(progress, graph, node_id, appended.event.sequence)

    def _lone_inline(self, progress: Progress, graph: Graph, decided: Plan, node_id: str) -> WorkItem | None:
        """The work item of the pass's one dispatch, if it runs here and its start can go out with its
        ``NodeScheduled`` (``EventLog.chains``); None: it is scheduled the usual way."""
        if self.inline is None or len(decided.dispatches) != 1 or decided.finish is not None:
            return None
        if graph.node(node_id).kind.held_by_scheduler or not self.log.chains(progress.tail):
            return None
        item = self._work_item(progress, graph, node_id, progress.tail.sequence + 1, None, None)
        return item if self.inline.takes(item) else None

    async def _start_inline(self, progress: Progress, scheduled: NodeScheduled, item: WorkItem) -> None:
        """Schedule ``item``'s node and start its first attempt here, both appended in one round trip.

        The start is the last append of the pass, so nothing of the pass races the run. If it did not
        land (another write came between), the run appends it as any inline run does.
        """
        links = self._scheduled_and_started(progress, item, scheduled)
        landed = await self.log.append_chain(progress.tenant, progress.execution_id, links, progress.tail)
        await self._fold_landed(progress, landed, {})
        self._run_inline(progress, item, landed)

    def _scheduled_and_started(
        self, progress: Progress, item: WorkItem, scheduled: NodeScheduled
    ) -> list[Link]:
        assert self.inline is not None
        started = NodeStarted(node_id=item.node_id, worker_id=self.inline.worker_id, attempt=0)
        return chain(
            progress.execution_id,
            progress.tail,
            [scheduled, started],
            headers=self._headers(progress),
            last_msg_id=DispatchKeys.of(item).started(0),
        )

    def _run_inline(self, progress: Progress, item: WorkItem, landed: list[Appended]) -> None:
        """Run ``item`` here, now that its ``NodeScheduled`` (``landed[0]``) is in the log, and its first
        attempt's start too if that landed behind it."""
        assert self.inline is not None
        scheduled = landed[0]
        position = LogPosition(sequence=scheduled.event.sequence, stream_seq=scheduled.tail.stream_seq)
        item = msgspec.structs.replace(item, scheduled_at=position, open_to=position)
        self.inline.run(item, progress.trace, landed[1] if len(landed) > 1 else None)

    async def _publish_work(
        self,
        progress: Progress,
        graph: Graph,
        node_id: str,
        scheduled: Appended | Dispatch,
        *,
        alone: bool = False,
    ) -> None:
        """``alone``: the one node its pass dispatched, which may run inline (a fan-out's nodes go to the
        workers, where they run beside this scheduler instead of on its one thread)."""
        if isinstance(scheduled, Dispatch):
            dispatch, position, open_to = scheduled.sequence, None, None
        else:
            dispatch = scheduled.event.sequence
            position = LogPosition(sequence=dispatch, stream_seq=scheduled.tail.stream_seq)
            # Past the NodeScheduled: only this pass's own appends (the work items go out after them).
            open_to = LogPosition(sequence=progress.tail.sequence, stream_seq=progress.tail.stream_seq)
        item = self._work_item(progress, graph, node_id, dispatch, position, open_to)
        if alone and self.inline is not None and self.inline.takes(item):
            self.inline.run(item, progress.trace)
            return
        payload = ENCODER.encode(item)
        if len(payload) > self._max_msg_bytes:
            error = f"work item is {len(payload)} bytes, over the {self._max_msg_bytes}-byte limit"
            await self.append(progress, NodeFailed(node_id=node_id, error=error, attempt=0, retryable=False))
            return
        headers = {**progress.trace, MSG_ID: item.item_id}
        ack = await self.log.publisher.publish(subjects.work(item.queue_type), payload, headers)
        flight = progress.in_flight.get(node_id)
        if flight is not None and flight.sequence == dispatch:
            flight.work_seq = ack.seq

    def _work_item(
        self,
        progress: Progress,
        graph: Graph,
        node_id: str,
        dispatch: int,
        position: LogPosition | None,
        open_to: LogPosition | None,
    ) -> WorkItem:
        return WorkItem(
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
            open_to=open_to,
            resources=graph.resources(node_id),
            approved_by=progress.approvals.get(node_id),
            labels=graph.ir.labels,
        )

    # ---- inline runs -------------------------------------------------------------------------------------

    async def inline_outcome(
        self, item: WorkItem, kind: EventKind, attempt: Attempt, headers: dict[str, str]
    ) -> Appended | None:
        """Append an inline run's completion at the head of the pass it leads to, both in one round trip
        when the pass is short (``_links_behind``): the pass is planned on the completion before it is
        acknowledged. None: not taken, and the run appends its outcome itself.

        Taken only while this scheduler's fold stands exactly where the run's attempt was recorded
        started (nothing appended since, so nothing ended the dispatch: ``append_unless``'s rule, which
        the head's condition on that tail then enforces) and while the stream looks quiet.
        """
        clear = attempt.clear
        if not isinstance(kind, NodeCompleted) or clear is None or not attempt.started:
            return None
        return await run_in_lane(
            self.lanes, item.execution_id, lambda: self._outcome_ahead(item, kind, clear, headers)
        )

    async def _outcome_ahead(
        self, item: WorkItem, kind: NodeCompleted, clear: Tail, headers: dict[str, str]
    ) -> Appended | None:
        progress = self._progress.get(item.execution_id)
        if progress is None or not self._ahead_of(progress, item, clear):
            return None
        graph = await self._graph(progress)
        head = Link(new_event(item.execution_id, clear.sequence + 1, kind), headers)
        # Folded before it lands, to plan on: if it does not land right past the tail, the fold is
        # read from the log again.
        if not progress.apply(head.event, clear.stream_seq + 1):
            self.forget(item.execution_id)  # refused by the fold: the run's own append says why
            return None
        try:
            return await self._chained_pass(progress, graph, head, clear)
        except BaseException:
            self.forget(item.execution_id)
            raise

    def _ahead_of(self, progress: Progress, item: WorkItem, clear: Tail) -> bool:
        return (
            progress.tail == clear
            and progress.terminal is None
            and not progress.foreign
            and _in_flight(progress, item)
            and self.owns(item.execution_id)
            and self.log.chains(clear)
        )

    async def _chained_pass(
        self, progress: Progress, graph: Graph, head: Link, after: Tail
    ) -> Appended | None:
        decided = plan(progress, graph, self._limits)
        links, item = self._links_behind(progress, graph, decided, head)
        return await self._append_pass(progress, decided, links, item, after)

    async def _append_pass(
        self,
        progress: Progress,
        decided: Plan,
        links: list[Link],
        item: WorkItem | None,
        after: Tail,
        behind: int | None = None,
    ) -> Appended | None:
        """The chain of a pass planned on its head before the head landed (``_links_behind``); the head
        as it landed, or None (and the execution forgotten) if it did not land after ``after``."""
        in_flight = dict(progress.in_flight)
        try:
            landed = await self.log.append_chain(
                progress.tenant, progress.execution_id, links, after, behind=behind
            )
        except AppendConflictError:  # the caller finds what came first (the run, its own append)
            self.forget(progress.execution_id)
            return None
        first = landed[0]
        progress.tail = first.tail  # where it landed: past the tail if the stream moved (then alone)
        try:
            await self._behind_landed(progress, decided, links, landed, item, in_flight)
        except Exception:  # the head is in the log: only what follows it is to be done again
            logger.warning("%s: pass after a chained head failed", progress.execution_id, exc_info=True)
            self.forget(progress.execution_id)  # the run's messages are then nak'd (_inline_folded)
        return first

    async def _behind_landed(
        self,
        progress: Progress,
        decided: Plan,
        links: list[Link],
        landed: list[Appended],
        item: WorkItem | None,
        in_flight: dict[str, Dispatch],
    ) -> None:
        await self._fold_landed(progress, landed[1:], in_flight)
        if item is not None and len(landed) > 1:
            self._run_inline(progress, item, landed[1:])
            assert self.inline is not None
            self.inline.launch()
        if progress.terminal:
            return
        if len(links) == 1 or len(landed) < len(links) or not decided.complete:
            await self.advance(progress)  # the pass as usual, or what is left of it
        else:
            progress.planned = progress.tail.stream_seq

    def _links_behind(
        self, progress: Progress, graph: Graph, decided: Plan, head: Link
    ) -> tuple[list[Link], WorkItem | None]:
        """The head, and behind it the pass ``decided`` when it is one inline dispatch (scheduled and
        started) or the finish; any other pass is applied the usual way once the head has landed."""
        if decided.skips or decided.decided or len(decided.dispatches) > 1:
            return [head], None
        if decided.finish is not None and not decided.dispatches:
            finish = chain(
                progress.execution_id, progress.tail, [decided.finish], headers=self._headers(progress)
            )
            return [head, *finish], None
        if not decided.dispatches:
            return [head], None
        node_id = decided.dispatches[0]
        item = self._lone_inline(progress, graph, decided, node_id)
        if item is None:
            return [head], None
        scheduled = NodeScheduled(node_id=node_id, queue_type=graph.node(node_id).kind.queue_type)
        return [head, *self._scheduled_and_started(progress, item, scheduled)], item

    def inline_folded(self, item: WorkItem, appended: list[Appended], ended: bool) -> asyncio.Future[None]:
        """What an inline run appended is folded in its execution's lane, then the execution planned."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def job() -> None:
            try:
                await self._inline_folded(item, appended, ended)
            finally:
                done.set_result(None)

        self.lanes.submit(item.execution_id, job)
        return done

    async def _inline_folded(self, item: WorkItem, appended: list[Appended], ended: bool) -> None:
        execution_id = item.execution_id
        done = self.inline.finished(item) if ended and self.inline is not None else []
        try:
            progress = self._progress.get(execution_id)
            # Not here any more: the partition's next owner plans, on these messages; or dropped after
            # a failure, and these messages make it be read again.
            if not self.owns(execution_id) or (progress is None and execution_id not in self._finished):
                for msg in done:
                    await msg.nak()
                return
            folded = progress is not None and await self._fold_own(progress, appended)
            if progress is not None and (folded or (ended and _in_flight(progress, item))):
                await self.advance(progress)
        except Exception:
            logger.warning("%s: inline outcome not planned; its event is", execution_id, exc_info=True)
            self.forget(execution_id)
            for msg in done:
                await msg.nak()
            return
        for msg in done:
            await self.acks.ack(msg)

    async def _fold_own(self, progress: Progress, appended: list[Appended]) -> bool:
        """Fold in log order what the inline runs appended; False if nothing was new."""
        folded = False
        for one in appended:
            try:
                folded = progress.apply(one.event, one.tail.stream_seq) or folded
            except GapError:  # another writer's event lies between: read the log from the tail
                await self.catch_up(progress)
                folded = True
                break
        if progress.terminal:
            self.forget(progress.execution_id, finished=True)
            return False
        return folded


def _in_flight(progress: Progress, item: WorkItem) -> bool:
    """Whether ``item``'s dispatch is still open in the fold (a run that ended without its outcome in
    the log: a worker takes it); a settled one was planned on when it was folded."""
    flight = progress.in_flight.get(item.node_id)
    return flight is not None and flight.sequence == item.dispatch
