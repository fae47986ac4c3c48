"""Connecting to NATS: named connections that reconnect forever and log their state changes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import nats
from nats.aio.client import Client

from jamjet_common import nats_flush, nats_headers

logger = logging.getLogger(__name__)
nats_headers.install()
nats_flush.install()


Listener = Callable[[], Awaitable[None]]


def server_list(url: str) -> list[str]:
    """The servers of ``NATS_URL``, which may list a cluster's: ``nats://a:4222,nats://b:4222``."""
    return [part.strip() for part in url.split(",") if part.strip()]


async def connect(
    url: str,
    name: str,
    *,
    connect_timeout: float = 5.0,
    on_reconnect: Listener | None = None,
    options: Mapping[str, Any] | None = None,
) -> Client:
    """Connect, retrying the first connection too, with unlimited reconnects afterwards.

    It retries for as long as it takes: the caller cancels it to give up (a service being stopped).
    ``options``: more keyword arguments for ``nats.connect`` (credentials, ``CommonConfig.nats_options``).
    """
    delay = 0.2
    while True:
        try:
            return await _connect_once(url, name, connect_timeout, on_reconnect, options or {})
        except (OSError, nats.errors.NoServersError, TimeoutError) as exc:
            logger.warning("nats %s: cannot connect to %s (%s); retrying in %.1fs", name, url, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def _connect_once(
    url: str, name: str, connect_timeout: float, listener: Listener | None, options: Mapping[str, Any]
) -> Client:
    async def on_error(exc: Exception) -> None:
        logger.warning("nats %s: %s", name, exc)

    async def on_disconnect() -> None:
        logger.warning("nats %s: disconnected", name)

    async def on_reconnect() -> None:
        logger.info("nats %s: reconnected", name)
        if listener is not None:
            await listener()

    return await nats.connect(
        server_list(url),
        name=name,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        connect_timeout=int(connect_timeout),
        error_cb=on_error,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
        pending_size=64 * 1024 * 1024,
        **options,
    )
