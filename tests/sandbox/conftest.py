"""A tool endpoint: a real HTTP server on 127.0.0.1 that answers every request with ``{"ok": true}``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.executors.fake_http import FakeHttpServer
from tests.sandbox.support import ok


@pytest.fixture
async def endpoint() -> AsyncIterator[FakeHttpServer]:
    async with FakeHttpServer(ok) as server:
        yield server
