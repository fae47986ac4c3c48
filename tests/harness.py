"""Running services inside a test's event loop, and building their configuration."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import TypeVar

from jamjet_common.service import Service

S = TypeVar("S", bound=Service)


@contextlib.asynccontextmanager
async def running[S: Service](service: S) -> AsyncIterator[S]:
    """Enter ``service``, run it in a task, and stop it (gracefully) when the block ends."""
    async with service:
        task = asyncio.create_task(service.run(), name=f"run-{service.name}")
        try:
            yield service
        finally:
            service.request_stop()
            await asyncio.wait_for(task, timeout=30)


TEST_MODULES = "tests"
"""What python_fn may import in the tests' workers (``JAMJET_PYTHON_ALLOWED_MODULES``)."""


def service_env(nats_url: str, database_url: str | None = None, **extra: str) -> dict[str, str]:
    """An environment for a service under test: fast shutdown, the test's NATS and database, and the
    tests' own modules allowed to python_fn."""
    env = {"NATS_URL": nats_url, "JAMJET_SHUTDOWN_GRACE_SECS": "5", "JAMJET_LOG_LEVEL": "INFO"}
    env["JAMJET_PYTHON_ALLOWED_MODULES"] = TEST_MODULES
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    env.update(extra)
    return env


def merged(base: Mapping[str, str], **extra: str) -> dict[str, str]:
    return {**base, **extra}
