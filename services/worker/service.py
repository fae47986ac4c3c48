"""The worker service: pull work items from the WORK stream's queues and run them.

One durable pull consumer per queue type (``jamjet-worker-<queue>``), shared by every worker replica.
Each queue has a feed that keeps a pull request outstanding, so an item is delivered the moment it is
stored; all feeds draw on one pool of slots (``jamjet_common.credit``), so the items asked for and the
items running never exceed the concurrency: a worker never holds an item it cannot start at once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Self

from nats.aio.msg import Msg

from jamjet_common import meters, streams, subjects, telemetry
from jamjet_common.config import CommonConfig, Env
from jamjet_common.credit import Credit, Share
from jamjet_common.pullfeed import PullFeed
from jamjet_common.service import Service, fetch_batches
from jamjet_common.streams import StreamLimits
from services.worker import tracing
from services.worker.cancellation import Cancellations
from services.worker.config import WorkerConfig
from services.worker.executors import ExecutorRegistry, builtin_registry
from services.worker.pipeline import Pipeline, build_parts
from services.worker.provenance import CancelNotices
from services.worker.remote import RemoteExecutors
from services.worker.settle import RELEASE, Verdict, settle

logger = logging.getLogger(__name__)
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
        self._credit = Credit(config.concurrency)
        self._queue_feeds: dict[str, PullFeed] = {}
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
            eager_kinds=self.config.eager_kinds,
        )
        self.publisher.before_publish = self._pipeline.acks.release
        # Before any fetch: a notice must not slip past an item this worker is about to run.
        notices = CancelNotices(self.nc, self.js, self.cancellations)
        await self.nc.subscribe(subjects.CANCEL_ALL, cb=notices.on_message)
        # Every share before the first pull: how long a request may wait depends on who else waits.
        shares = {queue: self._credit.share() for queue in self.config.queues}
        for queue, share in shares.items():
            self._queue_feeds[queue] = await self._bind(queue, share)
        consumers = {queue: consumer_name(queue) for queue in self.config.queues}
        self._backlog = tracing.queue_backlog(self.js, consumers, self.common.metrics_poll_secs)
        self._backlog.start()
        logger.info(
            "worker %s serves %s with executors %s", self.worker_id, self.config.queues, self.registry.tags
        )

    async def _bind(self, queue: str, share: Share) -> PullFeed:
        config = streams.durable_consumer(
            consumer_name(queue),
            [subjects.work(queue)],
            ack_wait=self.config.lease_secs,
            max_ack_pending=self.config.max_ack_pending,
        )
        return await self.feed(streams.WORK, config, self.config.concurrency, share)

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for queue, feed in self._queue_feeds.items():
                group.create_task(self._feed_loop(feed), name=f"feed:{queue}")

    async def _feed_loop(self, feed: PullFeed) -> None:
        # Every item handed out already holds the slot its pull drew: it starts at once.
        async for msgs in fetch_batches(feed, self.config.concurrency, self.stopping):
            for msg in msgs:
                self._spawn(msg)

    def _spawn(self, msg: Msg) -> None:
        task = asyncio.create_task(self._handle(msg), name=f"item:{msg.subject}")
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._credit.release(1)

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
        # Pull no more at once: the requests out die with their inbox, nothing more is delivered.
        self._credit.close()
        for feed in self._queue_feeds.values():
            await feed.stop()
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
