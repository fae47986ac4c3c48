"""The policy service: answers ``jamjet.policy.evaluate`` and executes the tenant commands.

Evaluations are plain NATS request/reply in the queue group ``jamjet-policy``, answered from the local
copy of the tenants. Tenant commands arrive through the CMDS stream on the durable consumer
``jamjet-policy-tenants``, so a command sent while no policy service runs is executed when one starts.
"""

from __future__ import annotations

import logging
from typing import Self

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from jamjet_common import codec, streams, subjects
from jamjet_common.config import Env
from jamjet_common.errors import ContractError
from jamjet_common.pullfeed import PullFeed
from jamjet_common.replies import ReplyRegistry
from jamjet_common.service import Service, fetch_batches
from services.policy.commands import TenantCommands
from services.policy.config import PolicyConfig
from services.policy.handlers import answer_evaluate
from services.policy.tenants import TenantStore

logger = logging.getLogger(__name__)

QUEUE_GROUP = "jamjet-policy"
TENANTS_CONSUMER = "jamjet-policy-tenants"
TENANT_CMDS = f"{subjects.CMD_TENANTS}.>"
MAX_ACK_PENDING = 256
MAX_RETRY_DELAY_SECS = 30.0


class PolicyService(Service):
    name = "policy"

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__(config.common, config.limits)
        self.config = config
        self._registry = ReplyRegistry()
        self._store: TenantStore | None = None
        self._commands: TenantCommands | None = None
        self._eval_sub: Subscription | None = None
        self._psub: PullFeed | None = None

    @classmethod
    def from_env(cls, env: Env) -> Self:
        return cls(PolicyConfig.from_env(env))

    @property
    def tenants(self) -> TenantStore:
        assert self._store is not None, "policy service not started"
        return self._store

    async def start(self) -> None:
        self._store = TenantStore(self.js)
        await self._store.start()
        self._commands = TenantCommands(self._store, self.common.max_message_bytes)
        # Listen for askers before fetching, so a command's plain-NATS twin is never missed.
        await self._registry.listen(self.nc, TENANT_CMDS)
        consumer = streams.durable_consumer(
            TENANTS_CONSUMER,
            subjects.TENANT_CMD_FILTERS,
            ack_wait=self.config.cmd_ack_wait_secs,
            max_ack_pending=MAX_ACK_PENDING,
        )
        self._psub = await self.feed(streams.CMDS, consumer, self.config.cmd_batch)
        self._eval_sub = await self.nc.subscribe(
            subjects.POLICY_EVALUATE, queue=QUEUE_GROUP, cb=self._on_evaluate
        )
        # Once started, a request from any connection must find this subscriber.
        await self.nc.flush()

    async def run(self) -> None:
        assert self._psub is not None, "policy service not started"
        async for msgs in fetch_batches(self._psub, self.config.cmd_batch, self.stopping):
            for msg in msgs:
                try:
                    if self.stopping.is_set():
                        await msg.nak()  # hand it to another replica now rather than after ack_wait
                    else:
                        await self._on_command(msg)
                except Exception:  # e.g. NATS went away mid-answer; unacked, the command comes back
                    logger.exception("tenant command %s not settled", msg.subject)

    async def stop(self) -> None:
        # run() has returned, so no command is in flight; evaluations in flight finish when the base
        # class drains the connection (the tenant copy stays readable after the watch stops).
        await self._registry.close()
        if self._store is not None:
            await self._store.stop()

    # ---- jamjet.policy.evaluate ---------------------------------------------------------------------------

    async def _on_evaluate(self, msg: Msg) -> None:
        if not msg.reply:
            logger.warning("policy request without a reply subject ignored")
            return
        try:
            reply = answer_evaluate(self.tenants, msg.data, self.common.max_message_bytes)
        except Exception as exc:  # a bug must cost one answer, not the subscription
            logger.exception("policy evaluation failed")
            reply = codec.error_reply("internal_error", f"policy evaluation failed: {exc}")
        await self.nc.publish(msg.reply, reply)

    # ---- jamjet.cmd.tenants.<action> ---------------------------------------------------------------------

    async def _on_command(self, msg: Msg) -> None:
        assert self._commands is not None
        action = msg.subject.removeprefix(f"{subjects.CMD_TENANTS}.")
        try:
            result = await self._commands.execute(action, msg.data)
        except ContractError as exc:
            logger.info("tenant command %s rejected: %s", msg.subject, exc)
            await self._answer(msg, codec.error_reply(exc.code, exc.message))
            await msg.term()
            return
        except Exception as exc:
            await self._retry_later(msg, exc)
            return
        await self._answer(msg, codec.ok_reply(**result))
        await msg.ack()

    async def _retry_later(self, msg: Msg, exc: Exception) -> None:
        attempt = msg.metadata.num_delivered or 1
        if attempt >= self.config.cmd_max_attempts:
            logger.error("tenant command %s failed %d times; giving up: %s", msg.subject, attempt, exc)
            message = f"tenant command failed {attempt} times: {exc}"
            await self._answer(msg, codec.error_reply("internal_error", message))
            await msg.term()
            return
        delay = min(2.0**attempt, MAX_RETRY_DELAY_SECS)
        logger.warning(
            "tenant command %s failed (attempt %d), retry in %gs: %s", msg.subject, attempt, delay, exc
        )
        # The asker is not answered yet: it is still remembered for the retry.
        await msg.nak(delay=delay)

    async def _answer(self, msg: Msg, reply: bytes) -> None:
        stored_at = msg.metadata.timestamp
        reply_to = await self._registry.reply_subject(msg.subject, msg.data, stored_at)
        if reply_to is None:
            logger.debug("tenant command %s had no one waiting for its answer", msg.subject)
            return
        await self.nc.publish(reply_to, reply)
