"""Durable timers in the JAMJET_TIMERS stream: workflow timeouts, approval deadlines, wait timers.

A timer is one message per execution and purpose; until it is due the scheduler naks it with the time
left, so JetStream keeps it and hands it back then, across restarts of the scheduler. ``Timers`` sets
them; ``TimerExpiry`` records what a due one means, through the executions' one conflict loop.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from functools import partial

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from jamjet_common import subjects
from jamjet_common.codec import ENCODER, decoder
from jamjet_common.deadletter import dead_letter_decode
from jamjet_common.dedup import approval_timer_id, wait_timer_id, workflow_timer_id
from jamjet_common.errors import FatalError
from jamjet_common.events import ApprovalReceived, EventKind, TimerFired, WorkflowFailed
from jamjet_common.ir import WaitNode
from jamjet_common.messages import WorkflowTimer
from jamjet_common.publisher import MSG_ID, JsPublisher
from services.scheduler.executions import Executions
from services.scheduler.graph import Graph
from services.scheduler.lanes import run_in_lane
from services.scheduler.progress import Progress
from services.scheduler.waits import WaitSpec

logger = logging.getLogger(__name__)
NOT_OWNED_RETRY_SECS = 0.2
"""How soon a due timer taken by a replica that does not own its execution is offered again."""


class Timers:
    def __init__(self, js: JetStreamContext, publisher: JsPublisher | None = None) -> None:
        self._publisher = publisher or JsPublisher.for_js(js)

    async def ensure(self, progress: Progress, graph: Graph) -> None:
        """Schedule the execution's timeouts, if its workflow has them (repeats are deduplicated)."""
        timeout = graph.workflow_timeout_secs
        if timeout is not None and progress.started_at is not None and not progress.terminal:
            await self.schedule(progress.tenant, progress.execution_id, timeout, progress.started_at)
        for node_id, hold in progress.held.items():
            await self.ensure_approval(progress, graph, node_id, hold)
        for node_id, dispatch in progress.in_flight.items():
            kind = graph.node(node_id).kind
            if isinstance(kind, WaitNode) and node_id not in progress.fired:
                await self.ensure_wait(progress, kind, node_id, dispatch.sequence, dispatch.scheduled_at)

    async def ensure_wait(
        self, progress: Progress, node: WaitNode, node_id: str, hold: int, since: datetime
    ) -> None:
        """The durable timer of a wait node, if it has one."""
        try:
            seconds = WaitSpec.of(node).timer_secs
        except FatalError:
            return  # the planner fails the node
        if seconds is None:
            return
        timer = WorkflowTimer(
            execution_id=progress.execution_id,
            tenant=progress.tenant,
            due_at=since + timedelta(seconds=seconds),
            timeout_secs=seconds,
            node_id=node_id,
            hold=hold,
            purpose="wait",
        )
        await self._publish(timer, wait_timer_id(progress.execution_id, hold))

    async def ensure_approval(self, progress: Progress, graph: Graph, node_id: str, hold: int) -> None:
        timeout = graph.approval_timeout_secs(node_id)
        if timeout is None:
            return
        timer = WorkflowTimer(
            execution_id=progress.execution_id,
            tenant=progress.tenant,
            due_at=datetime.now(UTC) + timedelta(seconds=timeout),
            timeout_secs=timeout,
            node_id=node_id,
            hold=hold,
        )
        await self._publish(timer, approval_timer_id(progress.execution_id, hold))

    async def schedule(
        self, tenant: str, execution_id: str, timeout_secs: float, started_at: datetime
    ) -> None:
        timer = WorkflowTimer(
            execution_id=execution_id,
            tenant=tenant,
            due_at=started_at + timedelta(seconds=timeout_secs),
            timeout_secs=timeout_secs,
        )
        await self._publish(timer, workflow_timer_id(execution_id))

    async def _publish(self, timer: WorkflowTimer, msg_id: str) -> None:
        subject = subjects.timer(timer.tenant, timer.execution_id)
        await self._publisher.publish(subject, ENCODER.encode(timer), {MSG_ID: msg_id})


class TimerExpiry:
    def __init__(self, nc: Client, executions: Executions) -> None:
        self._nc = nc
        self._executions = executions

    async def on_msg(self, msg: Msg) -> None:
        try:
            timer = decoder(WorkflowTimer).decode(msg.data)
        except Exception as exc:
            await dead_letter_decode(self._nc, msg, exc, "scheduler")
            return
        left = (timer.due_at - datetime.now(UTC)).total_seconds()
        if left > 0:
            await msg.nak(delay=left)
            return
        fired = self.owns(timer) and await run_in_lane(
            self._executions.lanes, timer.execution_id, lambda: self._expire(timer)
        )
        if fired:
            await msg.ack()
        else:  # another replica plans the execution (see timer_feed): offered again, for the owner
            await msg.nak(delay=NOT_OWNED_RETRY_SECS)

    def owns(self, timer: WorkflowTimer) -> bool:
        return self._executions.owns(timer.execution_id)

    async def _expire(self, timer: WorkflowTimer) -> bool:
        """False once the partition moved while the timer waited in the lane, else True: fired."""
        if not self.owns(timer):
            return False
        recorded = await self._executions.record(timer.tenant, timer.execution_id, partial(due, timer))
        if recorded is not None:
            logger.info("%s/%s: timer due: %s", timer.execution_id, timer.node_id or "-", recorded.tag)
        return True


def due(timer: WorkflowTimer, progress: Progress | None) -> EventKind | None:
    """What the due ``timer`` means for the execution as it stands; None once it means nothing.

    A wait's timer or an approval's deadline means nothing once the node's hold ended (a signal came,
    a human decided, the execution ended); a workflow timeout once the execution ended.
    """
    if progress is None or progress.terminal:
        return None
    if timer.node_id is None:
        return WorkflowFailed(error=f"workflow timed out after {timer.timeout_secs:g}s")
    if timer.purpose == "wait":
        dispatch = progress.in_flight.get(timer.node_id)
        held = dispatch is not None and dispatch.sequence == timer.hold
        return TimerFired(node_id=timer.node_id) if held else None
    if progress.held.get(timer.node_id) != timer.hold:
        return None
    comment = f"approval timed out after {timer.timeout_secs:g}s"
    return ApprovalReceived(node_id=timer.node_id, user_id="system", decision="rejected", comment=comment)
