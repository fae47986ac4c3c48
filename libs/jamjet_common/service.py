"""Service lifecycle shared by the four services.

A service is an async context manager: entering connects to NATS and provisions streams; ``run()``
works until ``request_stop()`` (SIGTERM/SIGINT in a process); leaving lets in-flight work finish within
the grace period, then drains NATS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable
from types import TracebackType
from typing import Self

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from jamjet_common.bus import connect
from jamjet_common.config import CommonConfig, ConfigError, Env
from jamjet_common.streams import StreamLimits, ensure_streams

logger = logging.getLogger(__name__)


class Service:
    """Base of every service: NATS connection, stop signal, grace period."""

    name = "service"

    def __init__(self, common: CommonConfig, limits: StreamLimits) -> None:
        self.common = common
        self.limits = limits
        self.stopping = asyncio.Event()
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None

    @property
    def nc(self) -> Client:
        assert self._nc is not None, "service not started"
        return self._nc

    @property
    def js(self) -> JetStreamContext:
        assert self._js is not None, "service not started"
        return self._js

    async def __aenter__(self) -> Self:
        self._nc = await connect(self.common.nats_url, f"{self.name}:{self.common.instance_id}")
        self._js = self._nc.jetstream(timeout=10)
        await ensure_streams(self._js, self.limits)
        await self.start()
        logger.info("%s %s started", self.name, self.common.instance_id)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.request_stop()
        try:
            await self.stop()
        finally:
            await self._close_nats()
        logger.info("%s %s stopped", self.name, self.common.instance_id)

    async def start(self) -> None:
        """Subscribe and start background work; called once connected."""

    async def run(self) -> None:
        """Work until asked to stop."""
        await self.stopping.wait()

    async def stop(self) -> None:
        """Finish in-flight work within the grace period; called before NATS is drained."""

    def request_stop(self) -> None:
        self.stopping.set()

    async def _close_nats(self) -> None:
        if self._nc is None or self._nc.is_closed:
            return
        try:
            await asyncio.wait_for(self._nc.drain(), timeout=10)
        except Exception:  # a drain that fails must not keep the process alive
            logger.warning("%s: NATS drain failed; closing", self.name, exc_info=True)
            with contextlib.suppress(Exception):
                await self._nc.close()


async def fetch_batches(
    psub: JetStreamContext.PullSubscription, batch: int, stopping: asyncio.Event, *, timeout: float = 1.0
) -> AsyncIterator[list[Msg]]:
    """Yield non-empty batches from a pull subscription until ``stopping`` is set."""
    while not stopping.is_set():
        try:
            msgs = await psub.fetch(batch, timeout=timeout)
        except TimeoutError:
            continue
        except Exception as exc:  # connection trouble: the client reconnects on its own
            if stopping.is_set():
                return
            logger.warning("fetch failed (%s); retrying", exc)
            await asyncio.sleep(0.5)
            continue
        if msgs:
            yield msgs


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def run_main(build: Callable[[Env], Service]) -> None:
    """Process entry point: config from the environment, signals, run until stopped."""
    try:
        service = build(Env())
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    setup_logging(service.common.log_level)
    asyncio.run(_serve(service))


async def _serve(service: Service) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, service.request_stop)
    async with service:
        await service.run()
