"""Checking that what claims to come from the scheduler agrees with the log and the catalog.

A worker acts on two kinds of messages only the scheduler should send: cancel notices and work items.
Either could be forged by any client that can publish (or by a compromised service), so before acting
the worker checks them against what it can read for itself:

- a cancel notice names the stream sequence of its execution's terminal event; the worker reads that
  message and acts only if it is this execution's ``workflow_completed``/``failed``/``cancelled``.
  Otherwise the notice is refused: remembering a live execution as cancelled would cancel each of its
  dispatches, and the scheduler would dispatch them again, without end;
- a work item's node must be the node of that id in the registered workflow version it names (the
  catalog's versions are immutable), so a work item cannot carry a node the workflow does not have.

A refused message is dead-lettered on ``jamjet.dlq.decode`` with the reason; nothing is recorded in the
execution's log.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from nats.js.kv import KeyValue

from jamjet_common import streams, subjects
from jamjet_common.codec import decode
from jamjet_common.deadletter import dead_letter_decode
from jamjet_common.errors import ContractError
from jamjet_common.events import EVENT_DECODER, TERMINAL_WORKFLOW_KINDS
from jamjet_common.ir import NodeDef
from jamjet_common.messages import CancelNotice, WorkItem
from jamjet_common.registered import registered_ir
from services.worker.cancellation import Cancellations

logger = logging.getLogger(__name__)
SERVICE = "worker"
WORKFLOWS_CACHED = 256


class CancelNotices:
    """Subscription callback for ``jamjet.cancel.>``: checked notices cancel their execution's nodes."""

    def __init__(self, nc: Client, js: JetStreamContext, cancels: Cancellations) -> None:
        self._nc = nc
        self._js = js
        self._cancels = cancels

    async def on_message(self, msg: Msg) -> None:
        try:
            notice = decode(msg.data, CancelNotice, what="cancel notice")
        except ContractError as exc:
            await dead_letter_decode(self._nc, msg, exc, SERVICE)
            return
        refusal = await self.refusal(msg.subject, notice)
        if refusal is not None:
            refused = ContractError(f"cancel notice refused: {refusal}", code="cancel_notice_refused")
            await dead_letter_decode(self._nc, msg, refused, SERVICE)
            return
        self._cancels.cancel(notice.execution_id)

    async def refusal(self, subject: str, notice: CancelNotice) -> str | None:
        """Why the notice is not to be acted on; None if its execution did end."""
        if subject != subjects.cancel(notice.tenant, notice.execution_id):
            return f"it names execution '{notice.execution_id}' but came on {subject}"
        if notice.terminal_stream_seq is None:
            return "it names no terminal event"
        try:
            ended = await self._js.get_msg(streams.EVENTS, seq=notice.terminal_stream_seq, direct=True)
        except NotFoundError:
            return f"no event at stream sequence {notice.terminal_stream_seq}"
        if ended.subject != subjects.events(notice.tenant, notice.execution_id):
            return f"stream sequence {notice.terminal_stream_seq} is not an event of this execution"
        assert ended.data is not None
        if not isinstance(EVENT_DECODER.decode(ended.data).kind, TERMINAL_WORKFLOW_KINDS):
            return f"the event at stream sequence {notice.terminal_stream_seq} does not end the execution"
        return None


class WorkflowNodes:
    """The nodes of registered workflow versions, read from the catalog bucket and kept."""

    def __init__(self, workflows: KeyValue) -> None:
        self._workflows = workflows
        self._nodes: OrderedDict[tuple[str, str, str], dict[str, NodeDef]] = OrderedDict()
        """(tenant, workflow id, version) -> its nodes: no catalog key is built per work item."""

    async def refusal(self, item: WorkItem) -> ContractError | None:
        """Why ``item`` must not run; None if its node is the workflow's node of that id."""
        problem = await self._problem(item)
        return None if problem is None else ContractError(problem, code="work_item_refused")

    async def _problem(self, item: WorkItem) -> str | None:
        version = (item.tenant, item.workflow_id, item.workflow_version)
        nodes = self._nodes.get(version) or await self._read(version)
        registered = None if nodes is None else nodes.get(item.node_id)
        if registered is not None and registered == item.node:
            return None
        where = f"workflow '{item.workflow_id}' version {item.workflow_version}"
        if nodes is None:
            return f"{where} is not registered for tenant '{item.tenant}'"
        if registered is None:
            return f"'{item.node_id}' is not a node of {where}"
        return f"node '{item.node_id}' differs from its definition in {where}"

    async def _read(self, version: tuple[str, str, str]) -> dict[str, NodeDef] | None:
        ir = await registered_ir(self._workflows, *version)
        if ir is None:
            return None
        self._nodes[version] = ir.nodes
        if len(self._nodes) > WORKFLOWS_CACHED:
            self._nodes.popitem(last=False)
        return ir.nodes
