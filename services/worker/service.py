"""The worker service: pull work items from the WORK stream's queues and run them.

One durable pull consumer per queue type (``jamjet-worker-<queue>``), shared by every worker replica.
Each queue has a fetch loop; all of them draw on one pool of slots, so a worker never holds more
items than it runs. A loop whose queue was empty asks for a single item (its long poll then holds
one slot, not the pool); a loop that got all it asked for asks for every free slot next time.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Self

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from jamjet_common import meters, streams, subjects, telemetry
from jamjet_common.config import CommonConfig, Env
from jamjet_common.service import Service
from jamjet_common.streams import StreamLimits
from services.worker import tracing
from services.worker.cancellation import Cancellations
from services.worker.config import WorkerConfig
from services.worker.executors import ExecutorRegistry, builtin_registry
from services.worker.pipeline import Pipeline, build_parts
from services.worker.provenance import CancelNotices
from services.worker.remote import RemoteExecutors
from services.worker.settle import RELEASE, Verdict, settle
from services.worker.slots import Slots

logger = logging.getLogger(__name__)
FETCH_TIMEOUT_SECS = 1.0
INFRA_RETRY_SECS = 1.0
CANCEL_WAIT_SECS = 5.0


def consumer_name(queue: str) -> str:
    return f"{streams.WORKER_CONSUMER_PREFIX}{queue}"


class WorkerService(Service):
    name = "worker"

    def __init__(
        self,
        common: CommonConfig,
        limits: StreamLimits,
        config: WorkerConfig,
        registry: ExecutorRegistry | None = None,
        env: Env | None = None,
    ) -> None:
        super().__init__(common, limits)
        self.config = config
        self.registry = registry or builtin_registry(config.sandbox.python)
        self._remote = RemoteExecutors.from_env(env, lambda: self.nc) if env is not None else None
        if self._remote is not None:
            self._remote.register(self.registry)
        self._slots = Slots(config.concurrency)
        self._subs: dict[str, JetStreamContext.PullSubscription] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._pipeline: Pipeline | None = None
        self._backlog: meters.Backlog | None = None
        self.cancellations = Cancellations()
        """Executions this worker heard were cancelled, and their running nodes."""

    @classmethod
    def from_env(cls, env: Env) -> Self:
        telemetry.setup(cls.name, env.environ)
        return cls(
            CommonConfig.from_env(env, "worker"),
            StreamLimits.from_env(env),
            WorkerConfig.from_env(env),
            env=env,
        )

    @property
    def worker_id(self) -> str:
        return self.common.instance_id

    async def start(self) -> None:
        parts = await build_parts(
            self.nc,
            self.js,
            self.registry,
            worker_id=self.worker_id,
            max_msg_bytes=self.limits.max_msg_bytes,
            policy_timeout_secs=self.config.policy_timeout_secs,
            cancels=self.cancellations,
            artifact_threshold=self.config.artifact_threshold_bytes,
            publisher=self.publisher,
        )
        self._pipeline = Pipeline(
            parts,
            worker_id=self.worker_id,
            heartbeat_secs=self.config.heartbeat_secs,
            policy_retry_secs=self.config.policy_retry_secs,
            capture_prompts=self.config.capture_prompts,
        )
        # Before any fetch: a notice must not slip past an item this worker is about to run.
        notices = CancelNotices(self.nc, self.js, self.cancellations)
        await self.nc.subscribe(subjects.CANCEL_ALL, cb=notices.on_message)
        for queue in self.config.queues:
            self._subs[queue] = await self._bind(queue)
        self._backlog = tracing.queue_backlog(self._subs, self.common.metrics_poll_secs)
        self._backlog.start()
        logger.info(
            "worker %s serves %s with executors %s", self.worker_id, self.config.queues, self.registry.tags
        )

    async def _bind(self, queue: str) -> JetStreamContext.PullSubscription:
        name = consumer_name(queue)
        config = streams.durable_consumer(
            name,
            [subjects.work(queue)],
            ack_wait=self.config.lease_secs,
            max_ack_pending=self.config.max_ack_pending,
        )
        return await self.pull(streams.WORK, config)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for queue, psub in self._subs.items():
                group.create_task(self._fetch_loop(queue, psub), name=f"fetch:{queue}")
            await self.stopping.wait()
            self._slots.close()

    async def _fetch_loop(self, queue: str, psub: JetStreamContext.PullSubscription) -> None:
        demand = 1
        while (granted := await self._slots.reserve(demand)) > 0:
            msgs = await self._fetch(queue, psub, granted)
            self._slots.release(granted - len(msgs))
            for msg in msgs:
                self._spawn(msg)
            demand = self.config.concurrency if len(msgs) >= granted else 1

    async def _fetch(self, queue: str, psub: JetStreamContext.PullSubscription, batch: int) -> list[Msg]:
        try:
            return await psub.fetch(batch, timeout=FETCH_TIMEOUT_SECS)
        except TimeoutError:
            return []
        except Exception as exc:  # connection trouble: the client reconnects on its own
            if not self.stopping.is_set():
                logger.warning("fetch from queue %s failed (%s); retrying", queue, exc)
                await asyncio.sleep(0.5)
            return []

    def _spawn(self, msg: Msg) -> None:
        task = asyncio.create_task(self._handle(msg), name=f"item:{msg.subject}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release(1)

    async def _handle(self, msg: Msg) -> None:
        assert self._pipeline is not None
        try:
            await self._pipeline.process(msg)
        except asyncio.CancelledError:
            await settle(msg, RELEASE)
            raise
        except Exception:
            logger.exception("work item on %s failed in the worker; it will be redelivered", msg.subject)
            await settle(msg, Verdict.redeliver(INFRA_RETRY_SECS))

    async def stop(self) -> None:
        self._slots.close()
        if self._backlog is not None:
            await self._backlog.stop()
        await self._finish_in_flight()
        if self._pipeline is not None:
            await self._pipeline.close()
        if self._remote is not None:
            await self._remote.aclose()

    async def _finish_in_flight(self) -> None:
        if not self._tasks:
            return
        grace = self.common.shutdown_grace_secs
        _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
        if not pending:
            return
        logger.warning("worker: %d node(s) still running after %.1fs; releasing them", len(pending), grace)
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=CANCEL_WAIT_SECS)
