"""Service lifecycle shared by the four services.

A service is an async context manager: entering connects to NATS and provisions streams; ``run()``
works until ``request_stop()`` (SIGTERM/SIGINT in a process); leaving lets in-flight work finish within
the grace period, then drains NATS.

Stopping never waits on the network: from ``request_stop()`` on, every phase (connecting, working,
``stop()``, the drain) is cut off at a deadline derived from ``JAMJET_SHUTDOWN_GRACE_SECS``, and a process
exits with code 0 within the grace period plus ``EXIT_MARGIN_SECS`` even when NATS or Postgres hangs.
Work cut off is unacknowledged, so JetStream redelivers it: nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Self

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig

from jamjet_common.bus import connect
from jamjet_common.config import CommonConfig, ConfigError, Env
from jamjet_common.credit import Share
from jamjet_common.loop import run
from jamjet_common.publisher import JsPublisher
from jamjet_common.pullfeed import PullFeed
from jamjet_common.streams import StreamLimits, ensure_streams

logger = logging.getLogger(__name__)
JS_TIMEOUT_SECS = 10.0
"""How long a JetStream request (a publish's ack, say) is waited for."""
HEALTH_INTERVAL = 5.0
STOP_SLACK_SECS = 2.0
"""What ``stop()`` gets past the grace period (at least), to release what it could not finish."""
DRAIN_SLACK_SECS = 1.0
"""What the NATS drain gets past the time ``stop()`` took (at least); then the connection is closed."""
CANCEL_WAIT_SECS = 0.5
EXIT_MARGIN_SECS = 4.0
"""A process still alive this long after the grace period ends is ended by a watchdog (exit code 0)."""


class Service:
    """Base of every service: NATS connection, stop signal, grace period."""

    name = "service"

    def __init__(self, common: CommonConfig, limits: StreamLimits) -> None:
        self.common = common
        self.limits = limits
        self.stopping = asyncio.Event()
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._publisher: JsPublisher | None = None
        self._feeds: list[PullFeed] = []
        self._health: asyncio.Task[None] | None = None
        self._stop_deadline: float | None = None

    @property
    def nc(self) -> Client:
        assert self._nc is not None, "service not started"
        return self._nc

    @property
    def js(self) -> JetStreamContext:
        assert self._js is not None, "service not started"
        return self._js

    @property
    def publisher(self) -> JsPublisher:
        """The connection's JetStream publisher, for every part of the service that publishes."""
        assert self._publisher is not None, "service not started"
        return self._publisher

    async def __aenter__(self) -> Self:
        self._nc = await connect(
            self.common.nats_url,
            f"{self.name}:{self.common.instance_id}",
            on_reconnect=self._reconnected,
            options=self.common.nats_options,
        )
        self._js = self._nc.jetstream(timeout=JS_TIMEOUT_SECS)
        self._publisher = JsPublisher(self._nc, timeout=JS_TIMEOUT_SECS)
        await ensure_streams(self._js, self.limits, create=self.common.provision_streams)
        await self.start()
        if self.common.health_file:
            self._health = asyncio.create_task(self._touch_health(Path(self.common.health_file)))
        logger.info("%s %s started", self.name, self.common.instance_id)
        return self

    async def feed(
        self,
        stream: str,
        config: ConsumerConfig,
        max_messages: int,
        credit: Share | None = None,
        gather: float = 0.0,
    ) -> PullFeed:
        """Create or update a durable pull consumer and keep pulls outstanding on it until stop."""
        assert config.durable_name is not None
        await self.js.add_consumer(stream, config=config)
        feed = PullFeed(
            self.nc, stream, config.durable_name, max_messages=max_messages, credit=credit, gather=gather
        )
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
            await self.until_stopped(self.stop(), slack=STOP_SLACK_SECS)
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
        if self._stop_deadline is None:
            self._stop_deadline = time.monotonic() + self.common.shutdown_grace_secs
        self.stopping.set()

    def time_left(self, slack: float = 0.0) -> float:
        """Seconds until the grace period (plus ``slack``) ends; the grace period if no stop was asked."""
        if self._stop_deadline is None:
            return self.common.shutdown_grace_secs + slack
        return max(self._stop_deadline + slack - time.monotonic(), 0.0)

    async def until_stopped[T](self, work: Awaitable[T], *, slack: float = 0.0) -> T | None:
        """``work``'s result, or None if it is still running ``slack`` seconds past the grace period.

        Before a stop is asked ``work`` may take as long as it likes; after, it is cancelled at the
        deadline (what it had not acknowledged is redelivered by JetStream).
        """
        return await self._race(work, lambda: self.time_left(slack))

    async def unless_stopped[T](self, work: Awaitable[T]) -> T | None:
        """``work``'s result, or None if a stop is asked first (``work`` is then cancelled at once)."""
        return await self._race(work, lambda: 0.0)

    async def _race[T](self, work: Awaitable[T], after_stop: Callable[[], float]) -> T | None:
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                await asyncio.wait({task}, timeout=after_stop())
        finally:
            stop.cancel()
        if task.done():
            return task.result()
        task.cancel()
        # A task that swallows its cancellation (a library cleaning up over a dead socket) is left.
        await asyncio.wait({task}, timeout=CANCEL_WAIT_SECS)
        logger.warning("%s: %s cut off by the stop", self.name, getattr(work, "__qualname__", work))
        return None

    async def _close_nats(self) -> None:
        if self._nc is None or self._nc.is_closed:
            return
        for feed in self._feeds:
            await feed.stop()
        try:
            await asyncio.wait_for(self._nc.drain(), timeout=max(self.time_left(), DRAIN_SLACK_SECS))
        except Exception:  # a drain that fails must not keep the process alive
            logger.warning("%s: NATS drain failed; closing", self.name, exc_info=True)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._nc.close(), timeout=CANCEL_WAIT_SECS)
        if self._publisher is not None:
            await self._publisher.close()


async def fetch_batches(feed: PullFeed, batch: int, stopping: asyncio.Event) -> AsyncIterator[list[Msg]]:
    """Yield non-empty batches of at most ``batch`` from ``feed`` until ``stopping`` is set."""
    while not stopping.is_set():
        msgs = await feed.next_batch(batch, stopping)
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
    # A stop asked before the event loop handles signals (while importing, say) has nothing to wait for.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_at_once)
    try:
        service = build(Env())
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    setup_logging(service.common.log_level)
    run(_serve(service))


def _exit_at_once(signum: int, frame: object) -> None:
    raise SystemExit(0)


async def _serve(service: Service) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, _stop_process, service)
    logger.info(
        "%s %s: connecting to NATS at %s", service.name, service.common.instance_id, service.common.nats_url
    )
    if await service.unless_stopped(service.__aenter__()) is None:
        await service._close_nats()  # stopped while connecting: nothing was taken, nothing to finish
        return
    try:
        await service.until_stopped(service.run())
    finally:
        await service.__aexit__(None, None, None)


def _stop_process(service: Service) -> None:
    if service.stopping.is_set():
        return
    service.request_stop()
    # The last resort when a library blocks past every deadline (a read on a black-holed socket).
    watchdog = threading.Timer(service.time_left(EXIT_MARGIN_SECS), _exit_now, args=(service.name,))
    watchdog.daemon = True
    watchdog.start()


def _exit_now(name: str) -> None:
    logger.error("%s: still running %.0fs after the grace period; exiting", name, EXIT_MARGIN_SECS)
    logging.shutdown()
    os._exit(0)
