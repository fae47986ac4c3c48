"""Test helpers. `eventually` replaces fixed sleeps: poll until a condition holds or time runs out."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, overload

from nats.aio.client import Client

from jamjet_client import RuntimeClient

T = TypeVar("T")


@overload
async def eventually[T](
    predicate: Callable[[], Awaitable[T]], *, timeout: float = ..., interval: float = ..., message: str = ...
) -> T: ...


@overload
async def eventually[T](
    predicate: Callable[[], T], *, timeout: float = ..., interval: float = ..., message: str = ...
) -> T: ...


async def eventually(
    predicate: Callable[[], object],
    *,
    timeout: float = 10.0,
    interval: float = 0.02,
    message: str = "",
) -> object:
    """Call `predicate` (sync or async) until it returns something truthy, and return that.

    Exceptions raised by the predicate count as "not yet". After `timeout` seconds raise
    AssertionError with `message` and the last value or exception.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last_value: object = None
    last_error: Exception | None = None
    before = ""
    while True:
        remaining = max(deadline - loop.time(), 0.001)
        if last_value is not None or last_error is not None:
            before = _last(last_value, last_error)
        try:
            last_value, last_error = await _call(predicate, remaining), None
        except Exception as exc:
            last_value, last_error = None, exc
        if last_error is None and last_value:
            return last_value
        if loop.time() >= deadline:
            failure = _failure(message, timeout, last_value, last_error, before)
            raise AssertionError(failure) from last_error
        await asyncio.sleep(min(interval, max(deadline - loop.time(), 0)))


async def _call(predicate: Callable[[], object], timeout: float) -> object:
    value = predicate()
    if inspect.isawaitable(value):
        async with asyncio.timeout(timeout):
            return await value
    return value


def _failure(message: str, timeout: float, value: object, error: Exception | None, before: str) -> str:
    what = message or "condition was never true"
    last = _last(value, error)
    # The last call only gets what is left of the wait, so a timeout there hides what the calls found.
    earlier = f"; the call before: {before}" if isinstance(error, TimeoutError) and before else ""
    return f"{what} (waited {timeout:g}s; {last}{earlier})"


def _last(value: object, error: Exception | None) -> str:
    return f"last exception: {error!r}" if error is not None else f"last value: {value!r}"


async def ask(
    nc: Client, subject: str, body: Any, *, timeout: float = 10.0, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """The runtime's answer as it sent it (``ok`` or not), asked through the client, so that tests talk
    to the runtime the one way everything else does. ``body`` as bytes goes out unchanged."""
    return await RuntimeClient(nc, timeout=timeout).request(subject, body, headers=headers)
