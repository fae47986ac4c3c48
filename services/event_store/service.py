"""The event store service: three durable consumers into Postgres, and the ``jamjet.store.*`` queries."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial
from typing import Self

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.kv import KeyValue

from jamjet_common import meters, streams, subjects, telemetry
from jamjet_common.artifacts import ArtifactStore
from jamjet_common.config import CommonConfig, Env
from jamjet_common.delivery import delivery
from jamjet_common.eventlog import EventLog
from jamjet_common.pullfeed import PullFeed
from jamjet_common.router import Router
from jamjet_common.service import Service
from jamjet_common.streams import StreamLimits
from services.event_store.artifacts import ArtifactResolver
from services.event_store.config import StoreConfig
from services.event_store.consumer import BatchConsumer, DeadLetters, KeepInStream
from services.event_store.database import Database
from services.event_store.dlq_intake import (
    DLQ_CONSUMER,
    SERVICE,
    DeadLetterRow,
    DlqMessage,
    decode_dead_letter,
)
from services.event_store.intake import StoredEvent, WorkflowRow, decode_event, decode_workflow
from services.event_store.queries import FROM_EVENTS, StoreQueries
from services.event_store.tracing import lag_backlog
from services.event_store.workflow_nodes import WorkflowNodes
from services.event_store.writer import write_dead_letters, write_events, write_workflows

logger = logging.getLogger(__name__)

QUERY_QUEUE_GROUP = "jamjet-event-store"
WORKFLOWS_STREAM = f"KV_{streams.KV_WORKFLOWS}"
WORKFLOWS_FILTER = f"$KV.{streams.KV_WORKFLOWS}.>"
WORKFLOWS_BATCH = 64
DLQ_BATCH = 64
"""Dead letters can be as large as a work item with its state: fewer per transaction."""
CAUGHT_UP_WAIT_SECS = 1.0
"""How long a query waits for the events in hand to be written; past it (Postgres slow or down) it reads
what is stored."""


class EventStoreService(Service):
    name = SERVICE

    def __init__(self, common: CommonConfig, limits: StreamLimits, config: StoreConfig) -> None:
        super().__init__(common, limits)
        self.config = config
        self.db = Database(config)
        self._queries: Router | None = None
        self._query_subs: list[Subscription] = []
        self._query_tasks: set[asyncio.Task[None]] = set()
        self._query_slots = asyncio.Semaphore(config.pool_max)
        self._events_psub: PullFeed | None = None
        self._workflows_psub: PullFeed | None = None
        self._dlq_psub: PullFeed | None = None
        self._lag: meters.Backlog | None = None
        self._catalog: KeyValue | None = None
        self._events: BatchConsumer[StoredEvent] | None = None

    @classmethod
    def from_env(cls, env: Env) -> Self:
        telemetry.setup(cls.name, env.environ)
        return cls(
            CommonConfig.from_env(env, cls.name), StreamLimits.from_env(env), StoreConfig.from_env(env)
        )

    async def start(self) -> None:
        self._catalog = await self.js.key_value(streams.KV_WORKFLOWS)
        self._events_psub = await self._bind(
            streams.EVENTS, streams.EVENT_STORE_CONSUMER, subjects.EVENTS_ALL, gather=self.config.linger_secs
        )
        self._workflows_psub = await self._bind(
            WORKFLOWS_STREAM, streams.EVENT_STORE_WORKFLOWS_CONSUMER, WORKFLOWS_FILTER, WORKFLOWS_BATCH
        )
        self._dlq_psub = await self._bind(streams.DLQ, DLQ_CONSUMER, subjects.DLQ_ALL, DLQ_BATCH)
        self._lag = lag_backlog(self.js, self.common.metrics_poll_secs)
        self._lag.start()
        artifacts = ArtifactResolver(await ArtifactStore.open(self.js), self.nc.max_payload)
        self._queries = StoreQueries(self.db, self.nc.max_payload, artifacts).router()
        self._query_subs = [
            await self.nc.subscribe(subject, queue=QUERY_QUEUE_GROUP, cb=self._on_query)
            for subject in subjects.STORE_QUERY_SUBJECTS
        ]

    async def _bind(
        self,
        stream: str,
        consumer: str,
        filter_subject: str,
        batch: int | None = None,
        *,
        gather: float = 0.0,
    ) -> PullFeed:
        config = streams.durable_consumer(
            consumer,
            [filter_subject],
            ack_wait=self.config.ack_wait_secs,
            max_ack_pending=self.config.max_ack_pending,
        )
        return await self.feed(
            stream, config, min(batch or self.config.batch, self.config.batch), gather=gather
        )

    async def run(self) -> None:
        """Reach Postgres (migrating the schema), then consume until stopped."""
        if not await self.db.open(self.stopping):
            return
        assert self._events_psub and self._workflows_psub and self._dlq_psub
        self._events = self._events_consumer()
        async with asyncio.TaskGroup() as group:
            group.create_task(self._events.run(self._events_psub))
            group.create_task(self._workflows_consumer().run(self._workflows_psub))
            group.create_task(self._dlq_consumer().run(self._dlq_psub))

    def _events_consumer(self) -> BatchConsumer[StoredEvent]:
        return BatchConsumer(
            "events",
            self.db,
            lambda msg: decode_event(msg.subject, msg.data, delivery(msg).stream_seq, msg.headers),
            partial(
                write_events,
                log=EventLog(self.nc, self.js, direct=False, publisher=self.publisher),
                workflows=WorkflowNodes(self._catalog),
            ),
            DeadLetters(self.nc, streams.EVENT_STORE_CONSUMER, self.name),
            batch=self.config.batch,
            ack_wait=self.config.ack_wait_secs,
            grace=self.common.shutdown_grace_secs,
            stopping=self.stopping,
        )

    def _workflows_consumer(self) -> BatchConsumer[WorkflowRow]:
        return BatchConsumer(
            "workflows",
            self.db,
            lambda msg: decode_workflow(msg.subject, msg.data, msg.headers),
            write_workflows,
            DeadLetters(self.nc, streams.EVENT_STORE_WORKFLOWS_CONSUMER, self.name),
            batch=min(WORKFLOWS_BATCH, self.config.batch),
            ack_wait=self.config.ack_wait_secs,
            grace=self.common.shutdown_grace_secs,
            stopping=self.stopping,
        )

    def _dlq_consumer(self) -> BatchConsumer[DeadLetterRow]:
        return BatchConsumer(
            "dead letters",
            self.db,
            lambda msg: decode_dead_letter(DlqMessage.of(msg)),
            write_dead_letters,
            KeepInStream(),
            batch=min(DLQ_BATCH, self.config.batch),
            ack_wait=self.config.ack_wait_secs,
            grace=self.common.shutdown_grace_secs,
            stopping=self.stopping,
        )

    async def _on_query(self, msg: Msg) -> None:
        if not msg.reply:
            return
        # One task per request, so that a slow query does not hold up the ones behind it.
        task = asyncio.create_task(self._answer(msg))
        self._query_tasks.add(task)
        task.add_done_callback(self._query_tasks.discard)

    async def _answer(self, msg: Msg) -> None:
        assert self._queries is not None
        if self._events is not None and msg.subject.rpartition(".")[2] in FROM_EVENTS:
            await self._events.caught_up(CAUGHT_UP_WAIT_SECS)  # what the store received, written first
        async with self._query_slots:
            await self._queries.respond(msg)

    async def stop(self) -> None:
        if self._lag is not None:
            await self._lag.stop()
        for sub in self._query_subs:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        if self._query_tasks:
            _, late = await asyncio.wait(self._query_tasks, timeout=self.common.shutdown_grace_secs)
            for task in late:
                task.cancel()
        await self.db.close()
