"""The policy service: answers ``jamjet.policy.evaluate`` and executes the tenant and agent commands.

Evaluations are plain NATS request/reply in the queue group ``jamjet-policy``, answered from the local
copies of the tenants and the agents. Commands arrive through the CMDS stream on the durable consumers
``jamjet-policy-tenants`` and ``jamjet-policy-agents``, so a command sent while no policy service runs
is executed when one starts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Self

from nats.aio.subscription import Subscription

from jamjet_common import streams, subjects, telemetry
from jamjet_common.config import Env
from jamjet_common.errors import UnknownCommandError
from jamjet_common.pullfeed import PullFeed
from jamjet_common.replies import ReplyRegistry
from jamjet_common.router import Handler, Request, Router, StoredCommands
from jamjet_common.service import Service, fetch_batches
from services.policy.agent_commands import AgentCommands
from services.policy.agents import AgentStore
from services.policy.commands import TenantCommands
from services.policy.config import PolicyConfig
from services.policy.handlers import evaluator
from services.policy.tenants import TenantStore
from services.policy.tracing import EvaluateTracing

logger = logging.getLogger(__name__)

QUEUE_GROUP = "jamjet-policy"
TENANTS_CONSUMER = "jamjet-policy-tenants"
AGENTS_CONSUMER = "jamjet-policy-agents"
MAX_ACK_PENDING = 256


@dataclass(frozen=True, slots=True)
class _Family:
    """One family of commands: its subjects, its consumer, what executes it."""

    name: str
    commands: StoredCommands
    feed: PullFeed


class PolicyService(Service):
    name = "policy"

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__(config.common, config.limits)
        self.config = config
        self._registry = ReplyRegistry()
        self._tenants: TenantStore | None = None
        self._agents: AgentStore | None = None
        self._families: list[_Family] = []
        self._eval_sub: Subscription | None = None
        self._evaluate: Router | None = None

    @classmethod
    def from_env(cls, env: Env) -> Self:
        telemetry.setup(cls.name, env.environ)
        return cls(PolicyConfig.from_env(env))

    @property
    def tenants(self) -> TenantStore:
        assert self._tenants is not None, "policy service not started"
        return self._tenants

    @property
    def agents(self) -> AgentStore:
        assert self._agents is not None, "policy service not started"
        return self._agents

    async def start(self) -> None:
        self._registry.claims = await self.js.key_value(streams.KV_REPLIES)
        self._registry.publisher = self.publisher
        self._tenants = TenantStore(self.js)
        self._agents = AgentStore(self.js)
        await self._tenants.start()
        await self._agents.start()
        tenants = TenantCommands(self._tenants).routes()
        agents = AgentCommands(self._agents).routes()
        self._families = [
            await self._family(
                "tenants", subjects.CMD_TENANTS, subjects.TENANT_CMD_FILTERS, TENANTS_CONSUMER, tenants
            ),
            await self._family(
                "agents", subjects.CMD_AGENTS, subjects.AGENT_CMD_FILTERS, AGENTS_CONSUMER, agents
            ),
        ]
        self._evaluate = Router(
            "policy evaluation",
            {subjects.POLICY_EVALUATE: evaluator(self._tenants, self._agents)},
            max_bytes=self.common.max_message_bytes,
            tracing=EvaluateTracing(),
        )
        self._eval_sub = await self.nc.subscribe(
            subjects.POLICY_EVALUATE, queue=QUEUE_GROUP, cb=self._evaluate.respond
        )
        # Once started, a request from any connection must find this subscriber.
        await self.nc.flush()

    async def _family(
        self, name: str, prefix: str, filters: list[str], consumer: str, routes: dict[str, Handler]
    ) -> _Family:
        # The filters must be disjoint from every other consumer's: the CMDS stream is a work queue.
        # Listen for askers before fetching, so a command's plain-NATS twin is never missed.
        await self._registry.listen(self.nc, filters)
        config = streams.durable_consumer(
            consumer, filters, ack_wait=self.config.cmd_ack_wait_secs, max_ack_pending=MAX_ACK_PENDING
        )
        feed = await self.feed(streams.CMDS, config, self.config.cmd_batch)
        router = Router(
            f"{name} command",
            routes,
            prefix=f"{prefix}.",
            max_bytes=self.common.max_message_bytes,
            unknown=_unknown(name),
        )
        commands = StoredCommands(
            self.nc, router, self._registry, self.name, self.common.max_command_attempts
        )
        return _Family(name, commands, feed)

    async def run(self) -> None:
        await asyncio.gather(*(self._serve(family) for family in self._families))

    async def _serve(self, family: _Family) -> None:
        async for msgs in fetch_batches(family.feed, self.config.cmd_batch, self.stopping):
            for msg in msgs:
                try:
                    if self.stopping.is_set():
                        await msg.nak()  # hand it to another replica now rather than after ack_wait
                    else:
                        await family.commands.settle(msg)
                except Exception:  # e.g. NATS went away mid-answer; unacked, the command comes back
                    logger.exception("%s command %s not settled", family.name, msg.subject)

    async def stop(self) -> None:
        # run() has returned, so no command is in flight; evaluations in flight finish when the base
        # class drains the connection (the local copies stay readable after their watches stop).
        await self._registry.close()
        for store in (self._tenants, self._agents):
            if store is not None:
                await store.stop()


def _unknown(family: str) -> Callable[[Request, Sequence[str]], UnknownCommandError]:
    def unknown(request: Request, known: Sequence[str]) -> UnknownCommandError:
        return UnknownCommandError(f"unknown {family} command '{request.route}'; known: {', '.join(known)}")

    return unknown
