"""Running a dispatch's node inside the scheduler that made it (``JAMJET_SCHEDULER_INLINE_KINDS``).

A worker's pipeline (``services.worker.pipeline``: NodeStarted, the executor, the one outcome, retries,
cancellation) hosted by the scheduler: no work item goes through JAMJET_WORK, and the outcome is folded
as it is appended instead of when it comes back through the partition. That saves a short step the
work item's publish and delivery and the outcome's delivery, about a third of its time.

Taken only: for the one node a plan pass dispatches (a fan-out's run on the workers, beside this
process); for the kinds configured; for a node nothing could stop (``jamjet_common.policy_free``), so
that the policy service has nothing to judge; for a ``python_fn``, a module this scheduler's own
allowlist allows; while this replica pulls the execution's partition; with room
(``JAMJET_SCHEDULER_INLINE_CONCURRENCY``). Anything else gets a work item, as without this.

The lease is the execution's partition messages. While one of its nodes runs here, each event of the
execution this replica is delivered stays unacknowledged (renewed every third of the ack wait) until the
run ends; the dispatch's own ``NodeScheduled`` is delivered after the run began, so one always is. A
replica that dies leaves them to the partition's next owner, which loads the execution and gives a
started dispatch whose runner was inline to a worker (``Executions._orphans``): the worker finds the
attempt lapsed, as after a worker's lease. A replica that stops finishes or releases its runs first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from jamjet_common import subjects
from jamjet_common.eventlog import Appended, EventLog
from jamjet_common.ir import PythonFnNode
from jamjet_common.messages import WorkItem
from jamjet_common.policy_free import nothing_applies
from jamjet_common.tenant_view import TenantView
from services.worker.cancellation import Cancellations
from services.worker.executors import builtin_registry
from services.worker.history import Attempt
from services.worker.pipeline import Pipeline, build_parts
from services.worker.provenance import CancelNotices
from services.worker.recorder import OutcomeWriter
from services.worker.sandbox.python_modules import ModulePolicy
from services.worker.tool_calls import is_agent_dispatch

logger = logging.getLogger(__name__)
RUNNER_PREFIX = "inline:"
"""``NodeStarted.worker_id`` of an attempt run inside a scheduler: ``inline:<scheduler instance>``."""
INLINE_ALLOWED = frozenset({"python_fn", "condition", "parallel", "join"})
"""Kinds that run inside the process and call nothing outside it."""
CANCEL_WAIT_SECS = 5.0

Folded = Callable[[WorkItem, list[Appended], bool], "asyncio.Future[None]"]
"""Told of what a delivery of an inline run appended, and whether the run ended (its lease goes);
done once that is folded."""


def runs_inline(worker_id: str | None) -> bool:
    """Whether an attempt started by ``worker_id`` ran inside a scheduler (no work item holds it)."""
    return worker_id is not None and worker_id.startswith(RUNNER_PREFIX)


@dataclass(frozen=True, slots=True)
class InlineConfig:
    kinds: frozenset[str]
    concurrency: int
    ack_wait_secs: float
    eager_kinds: frozenset[str]


@dataclass(slots=True)
class _Metadata:
    num_delivered: int


@dataclass(slots=True)
class InlineDelivery:
    """A work item's delivery that never went through the bus: the lease is renewed by ``InlineRuns``."""

    metadata: _Metadata
    headers: dict[str, str] | None = None

    async def in_progress(self) -> None:
        return None


@dataclass(slots=True)
class _Execution:
    runs: dict[int, int] = field(default_factory=dict)
    """Dispatch running here → how many messages were held when it began: those after are its lease."""
    held: list[Msg] = field(default_factory=list)
    appended: list[Appended] = field(default_factory=list)


class InlineRuns:
    """The nodes this scheduler runs itself, and the partition messages that are their lease."""

    def __init__(
        self, config: InlineConfig, instance: str, pulling: Callable[[str], bool], max_msg_bytes: int
    ) -> None:
        self.config = config
        self._max_msg_bytes = max_msg_bytes
        self.worker_id = f"{RUNNER_PREFIX}{instance}"
        self._pulling = pulling
        self._executions: dict[str, _Execution] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._queued: list[tuple[WorkItem, dict[str, str], Appended | None]] = []
        self._pipeline: Pipeline | None = None
        self._tenants: TenantView | None = None
        self._modules = ModulePolicy()
        self._beat: asyncio.Task[None] | None = None
        self._stopping = False
        self.folded: Folded = _nothing_folded
        self.outcomes: OutcomeWriter | None = None
        """Appends a run's outcome at the head of the pass it leads to (``Executions.inline_outcome``)."""
        self._settling: set[asyncio.Future[None]] = set()

    async def start(self, nc: Client, js: JetStreamContext, log: EventLog, modules: ModulePolicy) -> None:
        """``modules``: the Python modules this scheduler may run (a python_fn of any other goes to a
        worker, whose allowlist may differ)."""
        self._modules = modules
        registry = builtin_registry(modules)
        cancels = Cancellations()
        parts = await build_parts(
            nc,
            js,
            registry,
            worker_id=self.worker_id,
            max_msg_bytes=self._max_msg_bytes,
            policy_timeout_secs=5.0,
            cancels=cancels,
            publisher=log.publisher,
            log=log,
            observe=self._observed,
        )
        self._pipeline = Pipeline(
            parts,
            worker_id=self.worker_id,
            heartbeat_secs=self.config.ack_wait_secs / 3,
            policy_retry_secs=1.0,
            eager_kinds=self.config.eager_kinds,
        )
        self._tenants = parts.tenants  # None: they would not load, so every node goes to a worker
        parts.recorder.outcomes = self.outcomes
        await nc.subscribe(subjects.CANCEL_ALL, cb=CancelNotices(nc, js, cancels).on_message)
        self._beat = asyncio.create_task(self._renew_leases())

    # ---- taking a node ----------------------------------------------------------------------------------

    def takes(self, item: WorkItem) -> bool:
        """Whether ``item``'s node runs here (then ``run`` it) instead of going to a worker."""
        kind = item.node.kind
        return (
            not self._stopping
            and self._pipeline is not None
            and kind.tag in self.config.kinds
            and not is_agent_dispatch(kind)
            and item.approved_by is None
            and len(self._tasks) + len(self._queued) < self.config.concurrency
            and self._tenants is not None
            and self._pulling(item.execution_id)
            and nothing_applies(self._tenants.get(item.tenant), item.workflow_policy, item.node)
            and (not isinstance(kind, PythonFnNode) or self._modules.runs(kind.module))
        )

    def run(self, item: WorkItem, headers: dict[str, str], started: Appended | None = None) -> None:
        """Run ``item`` here, from the next ``launch``: a plan's remaining appends go first, or the runs'
        starts would race them for the log's tail. ``started``: its first attempt's ``NodeStarted``,
        appended by the plan with its ``NodeScheduled``."""
        execution = self._executions.setdefault(item.execution_id, _Execution())
        execution.runs[item.dispatch] = len(execution.held)
        self._queued.append((item, headers, started))

    def launch(self) -> None:
        for item, headers, started in self._queued:
            task = asyncio.create_task(
                self._run(item, headers, started), name=f"inline:{item.execution_id}/{item.node_id}"
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._queued.clear()

    async def _run(self, item: WorkItem, headers: dict[str, str], started: Appended | None) -> None:
        assert self._pipeline is not None
        delivered, ended = 0, False
        try:
            while not ended:
                delivered += 1
                delivery = InlineDelivery(_Metadata(delivered), headers)
                attempt = None
                if started is not None and delivered == 1:
                    attempt = Attempt(number=0, started=True, clear=started.tail)
                verdict = await self._pipeline.delivered(item, delivery, attempt)
                ended = verdict.action != "redeliver" or self._stopping
                self._flush(item, ended)
                if not ended:
                    await asyncio.sleep(verdict.delay)
        except asyncio.CancelledError:
            self._flush(item, True)
            raise
        except Exception:
            logger.exception("%s/%s: inline run failed; a worker takes it", item.execution_id, item.node_id)
            self._flush(item, True)

    # ---- what the runs appended, and their leases -------------------------------------------------------

    def _observed(self, item: WorkItem, appended: Appended) -> None:
        execution = self._executions.get(item.execution_id)
        if execution is not None:
            execution.appended.append(appended)

    def _flush(self, item: WorkItem, ended: bool) -> None:
        execution = self._executions.get(item.execution_id)
        appended = execution.appended if execution is not None else []
        if execution is not None:
            execution.appended = []
        folding = self.folded(item, appended, ended)
        if ended:  # a stop waits for it: a node given back is handed on while this replica still plans
            self._settling.add(folding)
            folding.add_done_callback(self._settling.discard)

    def running(self, execution_id: str, dispatch: int) -> bool:
        execution = self._executions.get(execution_id)
        return execution is not None and dispatch in execution.runs

    def busy_with(self, keys: Callable[[str], bool]) -> bool:
        return any(keys(execution_id) for execution_id in self._executions)

    def hold(self, execution_id: str, msg: Msg) -> bool:
        """Keep ``msg`` unacknowledged while a node of its execution runs here; False: ack it now."""
        execution = self._executions.get(execution_id)
        if execution is None:
            return False
        execution.held.append(msg)
        return True

    def finished(self, item: WorkItem) -> list[Msg]:
        """The run of ``item`` has been folded: the messages its execution no longer needs held.

        A run that began later keeps those delivered since it began (its own ``NodeScheduled`` among
        them): a pass that runs the next node here while the last one's run ends would otherwise keep
        every message of a long chain of inline nodes held.
        """
        execution = self._executions.get(item.execution_id)
        if execution is None:
            return []
        execution.runs.pop(item.dispatch, None)
        if not execution.runs:
            del self._executions[item.execution_id]
            return execution.held
        keep = min(execution.runs.values())
        done, execution.held = execution.held[:keep], execution.held[keep:]
        execution.runs = {dispatch: mark - keep for dispatch, mark in execution.runs.items()}
        return done

    async def _renew_leases(self) -> None:
        while True:
            await asyncio.sleep(self.config.ack_wait_secs / 3)
            for execution in list(self._executions.values()):
                for msg in list(execution.held):
                    try:
                        await msg.in_progress()
                    except Exception as exc:  # the next renewal may get through; the lease decides
                        logger.warning("inline lease of %s not renewed: %s", msg.subject, exc)

    # ---- stopping ----------------------------------------------------------------------------------------

    async def stop(self, grace: float) -> None:
        """Take no more nodes; wait ``grace`` for those running, then release them (they are redone)."""
        self._stopping = True
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                logger.warning("scheduler: %d inline node(s) released after %.1fs", len(pending), grace)
                await asyncio.wait(pending, timeout=CANCEL_WAIT_SECS)
        if self._settling:
            await asyncio.wait(set(self._settling), timeout=CANCEL_WAIT_SECS)
        if self._beat is not None:
            self._beat.cancel()
        if self._pipeline is not None:
            await self._pipeline.close()


def _nothing_folded(item: WorkItem, appended: list[Appended], ended: bool) -> asyncio.Future[None]:
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done
