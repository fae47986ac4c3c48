"""The scheduler service: commands in, executions driven forward event by event."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Self

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from jamjet_common import partitions, streams, subjects, telemetry
from jamjet_common.codec import error_reply
from jamjet_common.config import CommonConfig, Env
from jamjet_common.eventlog import EventLog
from jamjet_common.publisher import JsPublisher
from jamjet_common.pullfeed import PullFeed
from jamjet_common.replies import ReplyRegistry
from jamjet_common.router import Router, StoredCommands
from jamjet_common.service import Service, fetch_batches
from jamjet_common.streams import StreamLimits
from services.scheduler.catalog import WorkflowCatalog
from services.scheduler.commands import Commands
from services.scheduler.config import SchedulerConfig
from services.scheduler.executions import Executions
from services.scheduler.inline import InlineConfig, InlineRuns
from services.scheduler.partition_feeds import PartitionFeeds
from services.scheduler.partitions import PartitionLeases
from services.scheduler.priority import CommandsFirst
from services.scheduler.stopping import InFlightStopper
from services.scheduler.tenancy import TenantGate
from services.scheduler.timer_feed import TimerFiring
from services.scheduler.timers import TimerExpiry, Timers
from services.worker.sandbox import SandboxConfig

logger = logging.getLogger(__name__)
COMMAND_BATCH = 128
"""Commands taken from the feed at a time (the feed keeps twice that requested or buffered)."""


@dataclass(frozen=True, slots=True)
class SchedulerParts:
    catalog: WorkflowCatalog
    executions: Executions
    timers: Timers
    expiry: TimerExpiry


async def build_parts(
    nc: Client,
    js: JetStreamContext,
    config: SchedulerConfig,
    max_msg_bytes: int,
    publisher: JsPublisher | None = None,
) -> SchedulerParts:
    """The scheduler's parts, each wired once with what it uses."""
    catalog = WorkflowCatalog(js)
    await catalog.open()
    log = EventLog(nc, js, publisher=publisher)
    stopper = InFlightStopper(nc, js, log)
    timers = Timers(js, log.publisher)
    executions = Executions(
        nc, js, log, catalog, timers, stopper, config.limits, max_msg_bytes, config.max_deliveries
    )
    return SchedulerParts(catalog, executions, timers, TimerExpiry(nc, executions))


class SchedulerService(Service):
    name = "scheduler"

    def __init__(
        self,
        common: CommonConfig,
        limits: StreamLimits,
        config: SchedulerConfig,
        sandbox: SandboxConfig | None = None,
    ) -> None:
        super().__init__(common, limits)
        self.config = config
        self._sandbox = sandbox or SandboxConfig()
        self._inline: InlineRuns | None = None
        self._registry = ReplyRegistry()
        self._command_slots = asyncio.Semaphore(config.command_concurrency)
        self._command_tasks: set[asyncio.Task[None]] = set()
        self.executions: Executions | None = None
        self._commands: StoredCommands | None = None

    @classmethod
    def from_env(cls, env: Env) -> Self:
        telemetry.setup(cls.name, env.environ)
        config = SchedulerConfig.from_env(env)
        # Only a scheduler that runs nodes itself reads what tenant IR may make it do.
        sandbox = SandboxConfig.from_env(env) if config.inline_kinds else None
        return cls(CommonConfig.from_env(env, "scheduler"), StreamLimits.from_env(env), config, sandbox)

    async def start(self) -> None:
        parts = await build_parts(self.nc, self.js, self.config, self.limits.max_msg_bytes, self.publisher)
        self.executions = parts.executions
        self._timers = TimerFiring(self.nc, parts.expiry, self.common.max_command_attempts)
        commands = Commands(
            parts.catalog,
            parts.executions,
            TenantGate(self.nc, await self.js.key_value(streams.KV_TENANTS)),
            parts.timers,
            self.common.max_message_bytes,
        )
        router = Router("scheduler command", commands.routes())
        self._commands = StoredCommands(
            self.nc, router, self._registry, self.name, self.common.max_command_attempts
        )
        self._registry.claims = await self.js.key_value(streams.KV_REPLIES)
        self._registry.publisher = self.publisher
        await self._registry.listen(self.nc, subjects.SCHEDULER_SCOPED_CMDS)
        await self.nc.subscribe(subjects.CMD_ALL, cb=self._on_plain_command)
        self._cmd_sub = await self._bind(
            streams.CMDS,
            streams.SCHEDULER_CMDS_CONSUMER,
            subjects.SCHEDULER_CMD_FILTERS,
            1000,
            2 * COMMAND_BATCH,
        )
        self._leases = await self._partitioned(parts.executions)
        if self.config.inline_kinds:
            await self._start_inline(parts.executions)
        self._timers_sub = await self._bind(
            streams.TIMERS, streams.SCHEDULER_TIMERS_CONSUMER, [subjects.TIMERS_ALL], 100000, 64
        )

    async def _partitioned(self, executions: Executions) -> PartitionLeases:
        """Every partition's consumer, and the leases that say which of them this replica reads."""
        count, lease = self.config.partitions, self.config.lease_secs
        await partitions.ensure_partitioned(
            self.js, self.limits, count, lease, create=self.common.provision_streams
        )
        await self._ensure_consumers()
        self._first = CommandsFirst(executions.lanes, self.config.event_lanes_under_commands)
        executions.plan_at_start = lambda: not self._first.pressing_besides_one
        self._feeds_of = PartitionFeeds(
            self.nc,
            self._ensure_consumer,
            executions,
            count,
            self.config.events_batch,
            256,
            self.common.shutdown_grace_secs,
            self._first,
        )
        kv = await self.js.key_value(partitions.KV_SCHEDULER_LEASES)
        leases = PartitionLeases(kv, self.common.instance_id, count, lease, self._feeds_of)
        self._feeds_of.leases = leases
        executions.owns, executions.stamp = self._feeds_of.owns, self._feeds_of.stamp
        await leases.tick()  # a replica starting alone (or first) owns its partitions once it is up
        return leases

    async def _ensure_consumers(self) -> None:
        for partition in range(self.config.partitions):
            await self._ensure_consumer(partition)

    async def _ensure_consumer(self, partition: int) -> None:
        await partitions.ensure_consumer(
            self.js, partition, self.config.partitions, self.config.ack_wait_secs
        )

    async def _start_inline(self, executions: Executions) -> None:
        config = InlineConfig(
            self.config.inline_kinds,
            self.config.inline_concurrency,
            self.config.ack_wait_secs,
            self.config.inline_eager_kinds,
        )
        inline = InlineRuns(
            config, self.common.instance_id, self._feeds_of.pulling, self.limits.max_msg_bytes
        )
        inline.folded, inline.outcomes = executions.inline_folded, executions.inline_outcome
        await executions.log.allow_chaining()
        await inline.start(self.nc, self.js, executions.log, self._sandbox.python)
        executions.inline = self._inline = inline
        self._feeds_of.inline = inline

    async def _reconnected(self) -> None:
        await super()._reconnected()
        with contextlib.suppress(Exception):  # each feed makes its own again when a pull finds it missing
            await self._ensure_consumers()  # kept in server memory: a restarted server has none
        await self._feeds_of.renew()
        if self._inline is not None and self.executions is not None:
            await self.executions.log.allow_chaining()  # a server that came back clustered: no chains

    async def _bind(
        self, stream: str, name: str, filters: list[str], max_ack_pending: int, prefetch: int
    ) -> PullFeed:
        config = streams.durable_consumer(
            name, filters, ack_wait=self.config.ack_wait_secs, max_ack_pending=max_ack_pending
        )
        return await self.feed(stream, config, prefetch)

    async def run(self) -> None:
        await asyncio.gather(self._command_loop(), self._leases.run(self.stopping), self._timer_loop())

    async def _timer_loop(self) -> None:
        async for msgs in fetch_batches(self._timers_sub, 64, self.stopping):
            for msg in msgs:
                task = asyncio.create_task(self._timers.on_msg(msg))
                self._command_tasks.add(task)
                task.add_done_callback(self._command_tasks.discard)

    async def _command_loop(self) -> None:
        feed = self._cmd_sub
        async for msgs in fetch_batches(feed, COMMAND_BATCH, self.stopping):
            for index, msg in enumerate(msgs):
                self._first.waiting(len(msgs) - index, feed.buffered, msgs[-1])
                await self._command_slots.acquire()
                task = asyncio.create_task(self._command(msg))
                self._command_tasks.add(task)
                task.add_done_callback(self._command_tasks.discard)
            self._first.waiting(0, feed.buffered, msgs[-1])

    async def _command(self, msg: Msg) -> None:
        assert self._commands is not None
        self._first.began()
        try:
            await self._commands.settle(msg)
        except Exception:  # NATS went away mid-answer: unacked, the command comes back after ack_wait
            logger.exception("command on %s not settled", msg.subject)
        finally:
            self._first.ended()
            self._command_slots.release()

    async def _on_plain_command(self, msg: Msg) -> None:
        """Every plain command, on one subscription: with two overlapping ones nats-server delivers a
        command twice to this connection and then refuses the one answer ``allow_responses`` permits
        (a trusted client in the service account would never be answered; tests/security)."""
        if any(subjects.matches(f, msg.subject) for f in subjects.SCHEDULER_PLAIN_CMDS):
            await self._registry.heard(msg)
        elif msg.reply and not subjects.is_stored_command(msg.subject):
            await msg.respond(error_reply("unknown_command", f"no command is served on {msg.subject!r}"))

    async def stop(self) -> None:
        grace = self.common.shutdown_grace_secs
        if self._inline is not None:
            # Before the leases go: a partition's next owner would take a node still running here for lost.
            await self._inline.stop(grace)
        try:
            await self._leases.release_all()  # the other replicas take over now, not at lease expiry
        except Exception:
            logger.warning("scheduler: leases not released; they expire", exc_info=True)
        await self._feeds_of.stop()
        if self._command_tasks:
            await asyncio.wait(set(self._command_tasks), timeout=grace)
        if self.executions is not None:
            if not await self.executions.lanes.join(grace):
                logger.warning(
                    "scheduler: lanes still busy after %.1fs; their events will be redelivered", grace
                )
            await self.executions.acks.flush()
        await self._registry.close()
