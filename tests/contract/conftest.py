"""Fixtures of the contract tests that need JetStream: a context, provisioned streams, an event log."""

from __future__ import annotations

import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from jamjet_common.config import Env
from jamjet_common.eventlog import EventLog
from jamjet_common.streams import StreamLimits, ensure_streams


@pytest.fixture
def limits() -> StreamLimits:
    return StreamLimits.from_env(Env({}))


@pytest.fixture
def js(nc: NATS) -> JetStreamContext:
    """A JetStream context on a server where nothing is provisioned yet."""
    return nc.jetstream(timeout=10)


@pytest.fixture
async def provisioned(js: JetStreamContext, limits: StreamLimits) -> JetStreamContext:
    await ensure_streams(js, limits)
    return js


@pytest.fixture
def log(nc: NATS, provisioned: JetStreamContext) -> EventLog:
    return EventLog(nc, provisioned)
