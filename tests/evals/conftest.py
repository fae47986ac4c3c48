from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.executors.fake_http import FakeHttpServer


@pytest.fixture
async def fake() -> AsyncIterator[FakeHttpServer]:
    async with FakeHttpServer() as server:
        yield server
