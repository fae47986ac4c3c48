from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client

from tests.e2e.stack import Recorder, Stack


@pytest.fixture
async def stack(nc: Client, nats_url: str, database_url: str) -> AsyncIterator[Stack]:
    recorder = Recorder()
    sub = await nc.subscribe("jamjet.events.>", cb=recorder.on_msg)
    yield Stack(nc, nats_url, database_url, recorder)
    await sub.unsubscribe()
