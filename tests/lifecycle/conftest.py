"""Fixtures of the lifecycle tests: the four services as real processes with a short grace period."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.faults.procs import ProcessSpec, ServiceProcesses, base_env
from tests.relay import TcpRelay

GRACE_SECS = 1.0
EXIT_LIMIT_SECS = GRACE_SECS + 5.0
"""The promise: every service exits within JAMJET_SHUTDOWN_GRACE_SECS + 5 s of SIGTERM."""
SERVICES = ("event_store", "policy", "scheduler", "worker")

Launch = Callable[..., Awaitable[ServiceProcesses]]
RelayFactory = Callable[[int], Awaitable[TcpRelay]]


@pytest.fixture
async def launch(tmp_path: Path) -> AsyncIterator[Launch]:
    """Start service processes (all four unless named) against a NATS and a database URL."""
    started: list[ServiceProcesses] = []

    async def start(
        nats_url: str, database_url: str, names: tuple[str, ...] = SERVICES, **settings: str
    ) -> ServiceProcesses:
        env = base_env(nats_url, database_url, JAMJET_SHUTDOWN_GRACE_SECS=str(GRACE_SECS), **settings)
        specs = [ProcessSpec(name, f"services.{name}") for name in names]
        procs = ServiceProcesses(env, tmp_path / f"logs{len(started)}", specs)
        started.append(procs)
        for name in names:
            await procs.start(name)
        return procs

    yield start
    for procs in started:
        await procs.stop_all()


@pytest.fixture
async def relays() -> AsyncIterator[RelayFactory]:
    """Relays to 127.0.0.1:<port> that a test can cut or black-hole; closed after the test."""
    opened: list[TcpRelay] = []

    async def open_relay(port: int) -> TcpRelay:
        relay = TcpRelay("127.0.0.1", port)
        await relay.start()
        opened.append(relay)
        return relay

    yield open_relay
    for relay in opened:
        await relay.close()
