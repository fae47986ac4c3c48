"""The router and its poison policy over a real nats-server: what each kind of failure becomes."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import StreamConfig
from nats.js.errors import NoStreamResponseError

from jamjet_common import subjects
from jamjet_common.codec import ok_reply
from jamjet_common.errors import ContractError, FatalError, RetryableError
from jamjet_common.replies import ReplyRegistry
from jamjet_common.router import Request, Router, StoredCommands
from jamjet_common.streams import durable_consumer
from tests.helpers import eventually

ATTEMPTS = 3
PREFIX = "test.cmd."


class Handlers:
    def __init__(self) -> None:
        self.attempts: Counter[str] = Counter()

    def routes(self) -> dict[str, Any]:
        names = ("ok", "wrong", "fatal", "bug", "flaky", "outage", "doubt")
        return {name: self._counted(name) for name in names}

    def _counted(self, name: str) -> Any:
        async def handle(request: Request) -> bytes:
            self.attempts[name] += 1
            assert request.attempt == self.attempts[name], "the attempt is JetStream's delivery count"
            return await getattr(self, name)(request)

        return handle

    async def ok(self, request: Request) -> bytes:
        return ok_reply(echo=json.loads(request.data))

    async def wrong(self, request: Request) -> bytes:
        raise ContractError("not like that", code="not_like_that")

    async def fatal(self, request: Request) -> bytes:
        raise FatalError("will never work", code="never")

    async def bug(self, request: Request) -> bytes:
        raise ValueError("oops")

    async def flaky(self, request: Request) -> bytes:
        if request.attempt == 1:
            raise RetryableError("not yet", retry_after=0.05)
        return ok_reply(attempt=request.attempt)

    async def outage(self, request: Request) -> bytes:
        """A stream without a leader for longer than the poison policy's attempts last."""
        if request.attempt <= ATTEMPTS + 1:
            raise NoStreamResponseError
        return ok_reply(attempt=request.attempt)

    async def doubt(self, request: Request) -> bytes:
        """An error of the service's own that an election causes (the scheduler's ``start_in_doubt``)."""
        if request.attempt <= ATTEMPTS + 1:
            raise ElectionError("in doubt while a leader is elected")
        return ok_reply(attempt=request.attempt)


class ElectionError(RetryableError):
    code = "in_doubt"
    outage = True


@pytest.fixture
async def served(nc: Client) -> AsyncIterator[tuple[Handlers, list[dict[str, Any]]]]:
    js = nc.jetstream()
    # no_ack, as JAMJET_CMDS: a request must get the handler's answer, not a PubAck.
    await js.add_stream(StreamConfig(name="TEST_CMDS", subjects=[f"{PREFIX}>"], no_ack=True))
    registry = ReplyRegistry()
    await registry.listen(nc, f"{PREFIX}>")
    handlers = Handlers()
    router = Router("test command", handlers.routes(), prefix=PREFIX, max_bytes=64)
    commands = StoredCommands(nc, router, registry, "test", ATTEMPTS)
    config = durable_consumer("test", [f"{PREFIX}>"], ack_wait=30, max_ack_pending=100)
    await js.add_consumer("TEST_CMDS", config)
    sub = await js.pull_subscribe_bind("test", stream="TEST_CMDS")
    letters: list[dict[str, Any]] = []

    async def keep(msg: Msg) -> None:
        letters.append(json.loads(msg.data))

    await nc.subscribe(subjects.DLQ_DECODE, cb=keep)

    async def serve() -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                for msg in await sub.fetch(10, timeout=0.2):
                    await commands.settle(msg)

    task = asyncio.create_task(serve())
    yield handlers, letters
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await registry.close()


async def ask(nc: Client, route: str, body: Any = None) -> dict[str, Any]:
    data = json.dumps(body if body is not None else {}).encode()
    reply = await nc.request(PREFIX + route, data, timeout=10)
    answer: dict[str, Any] = json.loads(reply.data)
    return answer


def error(reply: dict[str, Any]) -> tuple[str, str]:
    assert reply["ok"] is False, reply
    return reply["error"]["code"], reply["error"]["message"]


async def test_each_failure_is_answered_and_settled_once(
    nc: Client, served: tuple[Handlers, list[dict[str, Any]]]
) -> None:
    handlers, letters = served
    assert await ask(nc, "ok", {"n": 1}) == {"ok": True, "echo": {"n": 1}}
    assert error(await ask(nc, "wrong")) == ("not_like_that", "not like that")
    assert error(await ask(nc, "fatal")) == ("never", "will never work")
    code, message = error(await ask(nc, "bug"))
    assert code == "internal_error" and "ValueError('oops')" in message
    assert await ask(nc, "flaky") == {"ok": True, "attempt": 2}
    assert error(await ask(nc, "nowhere"))[0] == "unknown_command"
    assert error(await ask(nc, "ok", {"x": "y" * 100}))[0] == "payload_too_large"
    # Contract errors and fatal ones are not retried; unexpected ones are, up to the limit.
    assert handlers.attempts == Counter(ok=1, wrong=1, fatal=1, bug=ATTEMPTS, flaky=2)
    await eventually(lambda: len(letters) == 3, message=f"dead letters: {letters}")
    reasons = {letter["subject"].removeprefix(PREFIX): letter for letter in letters}
    assert reasons["fatal"]["error"] == {"code": "never", "message": "will never work"}
    assert reasons["fatal"].get("attempts") is None
    assert reasons["bug"]["error"]["code"] == "internal_error" and reasons["bug"]["attempts"] == ATTEMPTS
    assert reasons["ok"]["error"]["code"] == "payload_too_large"
    # The server takes acks off the connection and applies them to the consumer apart: poll for them.
    await eventually(lambda: settled(nc), message="every command is acked")


async def settled(nc: Client) -> bool:
    info = await nc.jetstream().consumer_info("TEST_CMDS", "test")
    return info.num_ack_pending == 0 and info.num_pending == 0


@pytest.mark.parametrize("route", ["outage", "doubt"])
async def test_an_outage_of_the_bus_outlasts_the_poison_policys_attempts(
    nc: Client, served: tuple[Handlers, list[dict[str, Any]]], route: str
) -> None:
    handlers, letters = served
    assert await ask(nc, route) == {"ok": True, "attempt": ATTEMPTS + 2}
    assert handlers.attempts == Counter({route: ATTEMPTS + 2})
    assert letters == []


async def test_a_plain_request_is_answered_at_once_whatever_fails(nc: Client) -> None:
    handlers = Handlers()
    router = Router("test query", handlers.routes(), prefix=PREFIX)
    sub = await nc.subscribe(f"{PREFIX}>", cb=router.respond)
    try:
        assert error(await ask(nc, "bug"))[0] == "internal_error"
        assert error(await ask(nc, "flaky"))[0] == "retryable"
        code, message = error(await ask(nc, "outage"))
        assert code == "unavailable" and "NoStreamResponseError" in message
        assert handlers.attempts == Counter(bug=1, flaky=1, outage=1)
    finally:
        await sub.unsubscribe()
