"""The policy service: answers ``jamjet.policy.evaluate`` and executes the tenant and agent commands.

Evaluations are plain NATS request/reply in the queue group ``jamjet-policy``, answered from the local
copies of the tenants and the agents. Commands arrive through the CMDS stream on the durable consumers
``jamjet-policy-tenants`` and ``jamjet-policy-agents``, so a command sent while no policy service runs
is executed when one starts.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Self

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from jamjet_common import codec, streams, subjects, telemetry
from jamjet_common.config import Env
from jamjet_common.deadletter import dead_letter_unreadable_command
from jamjet_common.errors import ContractError
from jamjet_common.pullfeed import PullFeed
from jamjet_common.replies import ReplyRegistry
from jamjet_common.service import Service, fetch_batches
from services.policy import tracing
from services.policy.agent_commands import AgentCommands
from services.policy.agents import AgentStore
from services.policy.commands import TenantCommands
from services.policy.config import PolicyConfig
from services.policy.dispatch import Commands
from services.policy.handlers import answer_evaluate
from services.policy.tenants import TenantStore

logger = logging.getLogger(__name__)

QUEUE_GROUP = "jamjet-policy"
TENANTS_CONSUMER = "jamjet-policy-tenants"
AGENTS_CONSUMER = "jamjet-policy-agents"
MAX_ACK_PENDING = 256
MAX_RETRY_DELAY_SECS = 30.0


@dataclass(frozen=True, slots=True)
class _Family:
    """One family of commands: its subjects, its consumer, what executes it."""

    name: str
    prefix: str
    commands: Commands
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
        self._tenants = TenantStore(self.js)
        self._agents = AgentStore(self.js)
        await self._tenants.start()
        await self._agents.start()
        max_bytes = self.common.max_message_bytes
        tenants = TenantCommands(self._tenants, max_bytes)
        agents = AgentCommands(self._agents, max_bytes)
        self._families = [
            await self._family(
                "tenant", subjects.CMD_TENANTS, subjects.TENANT_CMD_FILTERS, TENANTS_CONSUMER, tenants
            ),
            await self._family(
                "agent", subjects.CMD_AGENTS, subjects.AGENT_CMD_FILTERS, AGENTS_CONSUMER, agents
            ),
        ]
        self._eval_sub = await self.nc.subscribe(
            subjects.POLICY_EVALUATE, queue=QUEUE_GROUP, cb=self._on_evaluate
        )
        # Once started, a request from any connection must find this subscriber.
        await self.nc.flush()

    async def _family(
        self, name: str, prefix: str, filters: list[str], consumer: str, commands: Commands
    ) -> _Family:
        # The filters must be disjoint from every other consumer's: the CMDS stream is a work queue.
        # Listen for askers before fetching, so a command's plain-NATS twin is never missed.
        await self._registry.listen(self.nc, filters)
        config = streams.durable_consumer(
            consumer, filters, ack_wait=self.config.cmd_ack_wait_secs, max_ack_pending=MAX_ACK_PENDING
        )
        feed = await self.feed(streams.CMDS, config, self.config.cmd_batch)
        return _Family(name, prefix, commands, feed)

    async def run(self) -> None:
        await asyncio.gather(*(self._serve(family) for family in self._families))

    async def _serve(self, family: _Family) -> None:
        async for msgs in fetch_batches(family.feed, self.config.cmd_batch, self.stopping):
            for msg in msgs:
                try:
                    if self.stopping.is_set():
                        await msg.nak()  # hand it to another replica now rather than after ack_wait
                    else:
                        await self._on_command(family, msg)
                except Exception:  # e.g. NATS went away mid-answer; unacked, the command comes back
                    logger.exception("%s command %s not settled", family.name, msg.subject)

    async def stop(self) -> None:
        # run() has returned, so no command is in flight; evaluations in flight finish when the base
        # class drains the connection (the local copies stay readable after their watches stop).
        await self._registry.close()
        for store in (self._tenants, self._agents):
            if store is not None:
                await store.stop()

    # ---- jamjet.policy.evaluate ---------------------------------------------------------------------------

    async def _on_evaluate(self, msg: Msg) -> None:
        if not msg.reply:
            logger.warning("policy request without a reply subject ignored")
            return
        with tracing.evaluate_span(msg.headers) as span:
            try:
                reply = answer_evaluate(self.tenants, self.agents, msg.data, self.common.max_message_bytes)
            except Exception as exc:  # a bug must cost one answer, not the subscription
                logger.exception("policy evaluation failed")
                reply = codec.error_reply("internal_error", f"policy evaluation failed: {exc}")
            tracing.describe(span, msg.data, reply)
            await self.nc.publish(msg.reply, reply)

    # ---- jamjet.cmd.tenants.<action>, jamjet.cmd.agents.<action> ------------------------------------------

    async def _on_command(self, family: _Family, msg: Msg) -> None:
        action = msg.subject.removeprefix(f"{family.prefix}.")
        try:
            result = await family.commands.execute(action, msg.data)
        except ContractError as exc:
            logger.info("%s command %s rejected: %s", family.name, msg.subject, exc)
            reply = codec.error_reply(exc.code, exc.message)
            await dead_letter_unreadable_command(self.nc, msg, reply, self.name)
            await self._answer(msg, reply)
            await msg.term()
            return
        except Exception as exc:
            await self._retry_later(family, msg, exc)
            return
        await self._answer(msg, codec.ok_reply(**result))
        await msg.ack()

    async def _retry_later(self, family: _Family, msg: Msg, exc: Exception) -> None:
        attempt = msg.metadata.num_delivered or 1
        if attempt >= self.config.cmd_max_attempts:
            logger.error(
                "%s command %s failed %d times; giving up: %s", family.name, msg.subject, attempt, exc
            )
            message = f"{family.name} command failed {attempt} times: {exc}"
            await self._answer(msg, codec.error_reply("internal_error", message))
            await msg.term()
            return
        delay = min(2.0**attempt, MAX_RETRY_DELAY_SECS)
        logger.warning(
            "%s command %s failed (attempt %d), retry in %gs: %s",
            family.name,
            msg.subject,
            attempt,
            delay,
            exc,
        )
        # The asker is not answered yet: it is still remembered for the retry.
        await msg.nak(delay=delay)

    async def _answer(self, msg: Msg, reply: bytes) -> None:
        stored_at = msg.metadata.timestamp
        reply_to = await self._registry.reply_subject(msg.subject, msg.data, stored_at)
        if reply_to is None:
            logger.debug("command %s had no one waiting for its answer", msg.subject)
            return
        await self.nc.publish(reply_to, reply)
