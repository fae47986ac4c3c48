"""Workflow timeouts as durable timers in the JAMJET_TIMERS stream.

A timer is one message per execution; until it is due the scheduler naks it with the time left, so
JetStream keeps it and hands it back then, across restarts of the scheduler.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from jamjet_common import subjects
from jamjet_common.codec import ENCODER, decoder
from jamjet_common.deadletter import dead_letter_decode
from jamjet_common.dedup import approval_timer_id, wait_timer_id, workflow_timer_id
from jamjet_common.errors import AppendConflictError, FatalError
from jamjet_common.eventlog import MSG_ID
from jamjet_common.events import ApprovalReceived, TimerFired, WorkflowFailed
from jamjet_common.ir import WaitNode
from jamjet_common.messages import WorkflowTimer
from services.scheduler.executions import Executions
from services.scheduler.graph import Graph
from services.scheduler.lanes import run_in_lane
from services.scheduler.progress import Progress
from services.scheduler.waits import WaitSpec

logger = logging.getLogger(__name__)
MAX_TRIES = 50


class Timers:
    def __init__(self, nc: Client, js: JetStreamContext, executions: Executions) -> None:
        self._nc = nc
        self._js = js
        self._executions = executions

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
        await self._js.publish(subject, ENCODER.encode(timer), headers={MSG_ID: msg_id})

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
        expire = self._expire
        if timer.node_id is not None:
            expire = self._expire_wait if timer.purpose == "wait" else self._expire_approval
        await run_in_lane(self._executions.lanes, timer.execution_id, lambda: expire(timer))
        await msg.ack()

    async def _expire_wait(self, timer: WorkflowTimer) -> bytes:
        assert timer.node_id is not None
        fired = TimerFired(node_id=timer.node_id)
        for _ in range(MAX_TRIES):
            progress = await self._executions.current(timer.tenant, timer.execution_id)
            dispatch = progress.in_flight.get(timer.node_id) if progress and not progress.terminal else None
            if progress is None or dispatch is None or dispatch.sequence != timer.hold:
                return b""  # the wait ended before its timer (an event arrived, or the execution ended)
            try:
                await self._executions.append(progress, fired)
            except AppendConflictError:
                continue
            await self._executions.advance(progress)
            return b""
        raise AppendConflictError(f"{timer.execution_id}: could not record the timer")

    async def _expire_approval(self, timer: WorkflowTimer) -> bytes:
        assert timer.node_id is not None
        comment = f"approval timed out after {timer.timeout_secs:g}s"
        decision = ApprovalReceived(
            node_id=timer.node_id, user_id="system", decision="rejected", comment=comment
        )
        for _ in range(MAX_TRIES):
            progress = await self._executions.current(timer.tenant, timer.execution_id)
            if progress is None or progress.terminal or progress.held.get(timer.node_id) != timer.hold:
                return b""  # answered (or the execution ended) before the deadline
            try:
                await self._executions.append(progress, decision)
            except AppendConflictError:
                continue
            logger.info("%s/%s: %s", timer.execution_id, timer.node_id, comment)
            return b""
        raise AppendConflictError(f"{timer.execution_id}: could not record the approval timeout")

    async def _expire(self, timer: WorkflowTimer) -> bytes:
        error = f"workflow timed out after {timer.timeout_secs:g}s"
        for _ in range(MAX_TRIES):
            progress = await self._executions.current(timer.tenant, timer.execution_id)
            if progress is None or progress.terminal:
                return b""
            try:
                await self._executions.append(progress, WorkflowFailed(error=error))
            except AppendConflictError:
                continue
            logger.info("%s: %s", timer.execution_id, error)
            return b""
        raise AppendConflictError(f"{timer.execution_id}: could not record the timeout")
