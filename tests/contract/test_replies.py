"""ReplyRegistry: the answer to a command stored by a no_ack stream reaches whoever sent it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import StreamConfig

from jamjet_common.asking import REQUEST_ID_HEADER
from jamjet_common.replies import ReplyRegistry

STREAM = "CONTRACT_TEST_CMDS"
SUBJECT = "contract.cmd.start"


@pytest.fixture
async def registry(nc: NATS, js: JetStreamContext) -> AsyncIterator[ReplyRegistry]:
    # no_ack, as CMDS: the requester must get the handler's answer, not the stream's PubAck.
    await js.add_stream(config=StreamConfig(name=STREAM, subjects=["contract.cmd.>"], no_ack=True))
    replies = ReplyRegistry()
    await replies.listen(nc, "contract.cmd.>")
    await nc.flush()
    yield replies
    await replies.close()


async def answer_stored(
    nc: NATS, js: JetStreamContext, replies: ReplyRegistry, count: int
) -> list[str | None]:
    """Process ``count`` stored commands as a handler does: answer each via its remembered asker."""
    sub = await js.pull_subscribe(SUBJECT, durable="handler", stream=STREAM)
    answered: list[str | None] = []
    while len(answered) < count:
        for msg in await sub.fetch(count - len(answered), timeout=5):
            reply = await replies.reply_subject(msg.subject, msg.data, msg.metadata.timestamp)
            if reply is not None:
                await nc.publish(reply, b"answer to " + msg.data)
            answered.append(reply)
            await msg.ack()
    return answered


async def test_a_stored_command_is_answered_to_its_requester(
    nc: NATS, js: JetStreamContext, registry: ReplyRegistry
) -> None:
    request = asyncio.create_task(nc.request(SUBJECT, b"cmd-1", timeout=5))
    answered = await answer_stored(nc, js, registry, 1)
    response = await request
    assert response.data == b"answer to cmd-1"
    assert answered[0] is not None and answered[0].startswith("_INBOX.")


async def test_identical_commands_from_two_requesters_each_get_one_answer(
    nc: NATS, js: JetStreamContext, registry: ReplyRegistry
) -> None:
    requests = [asyncio.create_task(nc.request(SUBJECT, b"same", timeout=5)) for _ in range(2)]
    answered = await answer_stored(nc, js, registry, 2)
    responses = await asyncio.gather(*requests)
    assert [r.data for r in responses] == [b"answer to same"] * 2
    assert len(set(answered)) == 2, "each asker is used once"


async def test_a_command_published_without_reply_subject_has_nobody_to_answer(
    nc: NATS, js: JetStreamContext, registry: ReplyRegistry
) -> None:
    await nc.publish(SUBJECT, b"fire-and-forget")
    assert await answer_stored(nc, js, registry, 1) == [None]


async def test_an_old_stored_command_without_asker_is_not_waited_for(registry: ReplyRegistry) -> None:
    stored_at = datetime.now(UTC) - timedelta(minutes=5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await registry.reply_subject(SUBJECT, b"from before a restart", stored_at) is None
    assert loop.time() - started < 0.1


async def test_only_commands_without_a_request_id_are_claimed_across_replicas(
    nc: NATS, js: JetStreamContext, registry: ReplyRegistry
) -> None:
    # Identical commands share a key, so replicas claim their askers; a request id makes the key its
    # one asker's, and the claim (a KV write per command) is skipped.
    claims = await js.create_key_value(bucket="contract_test_replies")
    registry.claims = claims
    sub = await js.pull_subscribe(SUBJECT, durable="claims", stream=STREAM)

    async def ask_and_answer(body: bytes, headers: dict[str, str] | None) -> int:
        """Claims in the bucket once the stored copy of ``body`` is answered to its asker."""
        asked = asyncio.create_task(nc.request(SUBJECT, body, timeout=5, headers=headers))
        [msg] = await sub.fetch(1, timeout=5)
        reply = await registry.reply_subject(msg.subject, msg.data, msg.metadata.timestamp, msg.headers)
        assert reply is not None
        await nc.publish(reply, b"answered")
        assert (await asked).data == b"answered"
        return (await claims.status()).values

    assert await ask_and_answer(b"with id", {REQUEST_ID_HEADER: "attempt-1"}) == 0
    assert await ask_and_answer(b"without id", None) == 1
