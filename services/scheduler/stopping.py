"""Stopping the work of an execution that ended while nodes were in flight (cancelled, timed out).

Workers learn it from a plain-NATS broadcast and cancel their running executors; the work items of
dispatches no worker has started are deleted from the work stream and recorded as cancelled here.
"""

from __future__ import annotations

import logging

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from nats.js.kv import KeyValue

from jamjet_common import subjects
from jamjet_common.claims import OutcomeClaims
from jamjet_common.codec import ENCODER
from jamjet_common.dedup import DispatchKeys
from jamjet_common.eventlog import EventLog
from jamjet_common.events import NodeCancelled
from jamjet_common.messages import CancelNotice
from jamjet_common.streams import WORK
from services.scheduler.progress import Dispatch, Progress

logger = logging.getLogger(__name__)


class InFlightStopper:
    def __init__(self, nc: Client, js: JetStreamContext, log: EventLog, outcomes: KeyValue) -> None:
        self._nc = nc
        self._js = js
        self._log = log
        self._claims = OutcomeClaims(outcomes, log.publisher)

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
        # The same claim workers take before an outcome: whoever claims first records it.
        kind = NodeCancelled(node_id=dispatch.node_id)
        keys = DispatchKeys(progress.execution_id, dispatch.sequence)
        if await self._claims.claim(keys, kind) is not None:
            return
        # The fold's tail is accepted: a conflict then walks back to it instead of reading the whole log.
        self._log.hint(progress.execution_id, progress.tail)
        await self._log.append(
            progress.tenant, progress.execution_id, kind, msg_id=keys.outcome, headers=progress.trace
        )
        logger.info("%s/%s: unstarted work item withdrawn", progress.execution_id, dispatch.node_id)
