"""Connecting to NATS: named connections that reconnect forever and log their state changes."""

from __future__ import annotations

import logging

import nats
from nats.aio.client import Client

logger = logging.getLogger(__name__)


async def connect(url: str, name: str, *, connect_timeout: float = 5.0) -> Client:
    """Connect with unlimited reconnects; the first connection is retried too."""

    async def on_error(exc: Exception) -> None:
        logger.warning("nats %s: %s", name, exc)

    async def on_disconnect() -> None:
        logger.warning("nats %s: disconnected", name)

    async def on_reconnect() -> None:
        logger.info("nats %s: reconnected", name)

    return await nats.connect(
        url,
        name=name,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=connect_timeout,
        retry_on_failed_connect=True,
        error_cb=on_error,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
        pending_size=64 * 1024 * 1024,
    )
