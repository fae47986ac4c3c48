"""Stopping the work of an execution that ended while nodes were in flight (cancelled, timed out).

Workers learn it from a plain-NATS broadcast and cancel their running executors; the work items of
dispatches no worker has started are deleted from the work stream and recorded as cancelled here.
"""

from __future__ import annotations

import logging

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from jamjet_common import subjects
from jamjet_common.codec import ENCODER
from jamjet_common.dedup import DispatchKeys
from jamjet_common.dispatch_end import ends_dispatch
from jamjet_common.eventlog import EventLog
from jamjet_common.events import Event, NodeCancelled
from jamjet_common.messages import CancelNotice
from jamjet_common.streams import WORK
from services.scheduler.progress import Dispatch, Progress

logger = logging.getLogger(__name__)


class InFlightStopper:
    def __init__(self, nc: Client, js: JetStreamContext, log: EventLog) -> None:
        self._nc = nc
        self._js = js
        self._log = log

    async def __call__(self, progress: Progress, in_flight: dict[str, Dispatch]) -> None:
        notice = CancelNotice(
            execution_id=progress.execution_id,
            tenant=progress.tenant,
            reason=progress.terminal,
            terminal_stream_seq=progress.tail.stream_seq,
        )
        await self._nc.publish(
            subjects.cancel(progress.tenant, progress.execution_id),
            ENCODER.encode(notice),
            headers=progress.trace or None,
        )
        for dispatch in in_flight.values():
            if (
                not dispatch.started
                and dispatch.work_seq is not None
                and await self._delete(dispatch.work_seq)
            ):
                await self._cancelled(progress, dispatch)

    async def _delete(self, seq: int) -> bool:
        try:
            return bool(await self._js.delete_msg(WORK, seq))
        except NotFoundError:
            return False  # a worker took it and settled it already

    async def _cancelled(self, progress: Progress, dispatch: Dispatch) -> None:
        # Appended as workers append an outcome: unless the dispatch ended since the fold's tail (a worker
        # that had the item already may have recorded its outcome), so that the dispatch has one.
        appended = await self._log.append_unless(
            progress.tenant,
            progress.execution_id,
            NodeCancelled(node_id=dispatch.node_id),
            clear=progress.tail,
            ended=ends_dispatch(dispatch.node_id),
            msg_id=DispatchKeys(progress.execution_id, dispatch.sequence).outcome,
            headers=progress.trace,
        )
        if isinstance(appended, Event):
            return
        logger.info("%s/%s: unstarted work item withdrawn", progress.execution_id, dispatch.node_id)
