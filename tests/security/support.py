"""Requests and subscriptions of the security tests."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import warnings
from collections.abc import Iterator
from typing import Any

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from tests.helpers import ask as runtime_request

REFUSED = (nats.errors.NoRespondersError, nats.errors.TimeoutError, nats.errors.Error, TimeoutError)
"""What a client sees when NATS gives it no way to reach a subject."""


async def ask(nc: Client, subject: str, body: dict[str, Any], timeout: float = 20) -> dict[str, Any]:
    return await runtime_request(nc, subject, body, timeout=timeout)


async def ok(nc: Client, subject: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = await ask(nc, subject, body)
    assert answer.get("ok"), answer
    return answer


async def refused(nc: Client, subject: str, body: bytes = b"{}", timeout: float = 1.0) -> bool:
    """True if a request on ``subject`` gets no answer, or only the JetStream API's error."""
    try:
        reply = await nc.request(subject, body, timeout=timeout)
    except REFUSED:
        return True
    try:
        return "error" in json.loads(reply.data) and not reply.headers
    except ValueError:
        return False


class Inbox:
    """Every message a subscription receives."""

    def __init__(self) -> None:
        self.msgs: list[Msg] = []

    async def on_msg(self, msg: Msg) -> None:
        self.msgs.append(msg)

    @property
    def subjects(self) -> list[str]:
        return [m.subject for m in self.msgs]


async def listen(nc: Client, subject: str, queue: str = "") -> Inbox:
    inbox = Inbox()
    await nc.subscribe(subject, queue=queue, cb=inbox.on_msg)
    await nc.flush()
    return inbox


async def settle() -> None:
    """Let in-flight messages arrive before asserting that nothing did (nothing to poll for)."""
    await asyncio.sleep(0.3)


@contextlib.contextmanager
def refused_connections() -> Iterator[None]:
    """nats-py leaves the sockets of refused (re)connections to the garbage collector: collect them here."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            yield
        finally:
            gc.collect()
