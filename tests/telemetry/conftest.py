from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.executors.fake_http import FakeHttpServer
from tests.telemetry.capture import Captured, installed
from tests.telemetry.flows import chat_reply


@pytest.fixture
def captured() -> Iterator[Captured]:
    capture = installed()
    capture.exporter.clear()
    capture.switch.on = True
    yield capture
    capture.switch.on = False
    capture.exporter.clear()


@pytest.fixture
async def llm() -> AsyncIterator[FakeHttpServer]:
    async with FakeHttpServer(chat_reply) as server:
        yield server
