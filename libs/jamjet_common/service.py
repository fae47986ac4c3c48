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
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig

from jamjet_common.bus import connect
from jamjet_common.config import CommonConfig, ConfigError, Env
from jamjet_common.loop import run
from jamjet_common.pullfeed import PullFeed
from jamjet_common.streams import StreamLimits, ensure_streams

logger = logging.getLogger(__name__)
FETCH_TIMEOUT = 0.5
HEALTH_INTERVAL = 5.0


class Service:
    """Base of every service: NATS connection, stop signal, grace period."""

    name = "service"

    def __init__(self, common: CommonConfig, limits: StreamLimits) -> None:
        self.common = common
        self.limits = limits
        self.stopping = asyncio.Event()
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._pulls: list[JetStreamContext.PullSubscription] = []
        self._feeds: list[PullFeed] = []
        self._health: asyncio.Task[None] | None = None

    @property
    def nc(self) -> Client:
        assert self._nc is not None, "service not started"
        return self._nc

    @property
    def js(self) -> JetStreamContext:
        assert self._js is not None, "service not started"
        return self._js

    async def __aenter__(self) -> Self:
        self._nc = await connect(
            self.common.nats_url, f"{self.name}:{self.common.instance_id}", on_reconnect=self._reconnected
        )
        self._js = self._nc.jetstream(timeout=10)
        await ensure_streams(self._js, self.limits)
        await self.start()
        if self.common.health_file:
            self._health = asyncio.create_task(self._touch_health(Path(self.common.health_file)))
        logger.info("%s %s started", self.name, self.common.instance_id)
        return self

    async def feed(self, stream: str, config: ConsumerConfig, max_messages: int) -> PullFeed:
        """Create or update a durable pull consumer and keep pulls outstanding on it until stop."""
        assert config.durable_name is not None
        await self.js.add_consumer(stream, config=config)
        feed = PullFeed(self.nc, stream, config.durable_name, max_messages=max_messages)
        await feed.start()
        self._feeds.append(feed)
        return feed

    async def _reconnected(self) -> None:
        # Pull requests die with the connection (and with a restarted server): ask again at once.
        for feed in self._feeds:
            await feed.renew()

    async def _touch_health(self, path: Path) -> None:
        # A container health check reads the file's age: fresh means the loop runs and NATS is up.
        while not self.stopping.is_set():
            if self._nc is not None and self._nc.is_connected:
                await asyncio.to_thread(path.touch)
            await asyncio.wait({asyncio.ensure_future(self.stopping.wait())}, timeout=HEALTH_INTERVAL)

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

    async def pull(self, stream: str, config: ConsumerConfig) -> JetStreamContext.PullSubscription:
        """Create or update a durable pull consumer and bind to it; it is closed before the drain."""
        assert config.durable_name is not None
        await self.js.add_consumer(stream, config=config)
        psub = await self.js.pull_subscribe_bind(config.durable_name, stream=stream)
        self._pulls.append(psub)
        return psub

    async def _close_nats(self) -> None:
        if self._nc is None or self._nc.is_closed:
            return
        # A pull subscription can hold messages delivered after its last fetch; a drain would wait on
        # them forever. Unsubscribed, they are simply redelivered to another consumer later.
        for psub in self._pulls:
            with contextlib.suppress(Exception):
                await psub.unsubscribe()
        for feed in self._feeds:
            await feed.stop()
        try:
            await asyncio.wait_for(self._nc.drain(), timeout=10)
        except Exception:  # a drain that fails must not keep the process alive
            logger.warning("%s: NATS drain failed; closing", self.name, exc_info=True)
            with contextlib.suppress(Exception):
                await self._nc.close()


async def fetch_batches(
    psub: JetStreamContext.PullSubscription | PullFeed,
    batch: int | Callable[[], int],
    stopping: asyncio.Event,
    *,
    timeout: float = FETCH_TIMEOUT,
) -> AsyncIterator[list[Msg]]:
    """Yield non-empty batches from a feed or pull subscription until ``stopping`` is set.

    ``batch`` may be a callable giving the number of free slots; nothing is fetched while it is 0.
    """
    if isinstance(psub, PullFeed):
        while not stopping.is_set():
            msgs = await psub.next_batch(batch() if callable(batch) else batch, stopping)
            if msgs:
                yield msgs
        return
    stop = asyncio.create_task(stopping.wait())
    try:
        while not stopping.is_set():
            size = batch() if callable(batch) else batch
            msgs = await _fetch_or_stop(psub, size, stop, timeout) if size > 0 else await _idle(stop)
            if msgs:
                yield msgs
    finally:
        stop.cancel()


async def _idle(stop: asyncio.Task[Any]) -> list[Msg]:
    await asyncio.wait({stop}, timeout=0.005)
    return []


async def _fetch_or_stop(
    psub: JetStreamContext.PullSubscription, size: int, stop: asyncio.Task[Any], timeout: float
) -> list[Msg]:
    fetch = asyncio.ensure_future(psub.fetch(size, timeout=timeout))
    await asyncio.wait({fetch, stop}, return_when=asyncio.FIRST_COMPLETED)
    try:
        # Once a pull request is out, the server may already be delivering: cancelling it would
        # strand those messages until their ack wait expires, so let it finish instead.
        msgs = await fetch
    except TimeoutError:
        return []
    except Exception as exc:  # connection trouble: the client reconnects on its own
        logger.warning("fetch failed (%s); retrying", exc)
        await asyncio.wait({stop}, timeout=0.5)
        return []
    if stop.done():
        await _give_back(msgs)
        return []
    return msgs


async def _give_back(msgs: list[Msg]) -> None:
    """Nak messages fetched after stop was requested, so they are redelivered at once."""
    for msg in msgs:
        with contextlib.suppress(Exception):
            await msg.nak()


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
    run(_serve(service))


async def _serve(service: Service) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, service.request_stop)
    async with service:
        await service.run()
