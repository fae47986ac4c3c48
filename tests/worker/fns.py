"""Functions that python_fn nodes in the worker tests call, imported as ``tests.worker.fns``.

The worker under test runs in the test's process, so module-level counters tell the tests how often
a function really ran. Keys come from the state, so concurrent tests do not share counts.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from jamjet_common.errors import FatalError, RetryableError

calls: Counter[str] = Counter()


def _count(state: dict[str, Any]) -> int:
    key = str(state.get("key", ""))
    calls[key] += 1
    return calls[key]


def greet(state: dict[str, Any]) -> dict[str, Any]:
    _count(state)
    return {"greeting": f"hello {state['name']}", "greeted_by": "sync"}


async def greet_async(state: dict[str, Any]) -> dict[str, Any]:
    _count(state)
    await asyncio.sleep(0)
    return {"greeting": f"hello {state['name']}", "greeted_by": "async"}


def answer(state: dict[str, Any]) -> int:
    return 42


def thread_name(state: dict[str, Any]) -> dict[str, Any]:
    return {"thread": threading.current_thread().name}


def broken(state: dict[str, Any]) -> dict[str, Any]:
    _count(state)
    raise ValueError("the input makes no sense")


def refuse(state: dict[str, Any]) -> dict[str, Any]:
    raise FatalError("refused on purpose")


def unserializable(state: dict[str, Any]) -> dict[str, Any]:
    return {"handle": object()}


def flaky(state: dict[str, Any]) -> dict[str, Any]:
    """Fails with a retryable error until called ``state["fail_times"] + 1`` times."""
    if _count(state) <= int(state.get("fail_times", 2)):
        raise RetryableError("upstream busy")
    return {"flaky_done": True}


def always_busy(state: dict[str, Any]) -> dict[str, Any]:
    _count(state)
    raise ConnectionError("upstream refused the connection")


async def slow(state: dict[str, Any]) -> dict[str, Any]:
    _count(state)
    await asyncio.sleep(float(state["secs"]))
    return {"slept": state["secs"]}


async def slow_first_time(state: dict[str, Any]) -> dict[str, Any]:
    """Hangs on its first call (until cancelled); returns at once on later calls."""
    if _count(state) == 1:
        await asyncio.sleep(3600)
    return {"second_call": True}


def sleepy(state: dict[str, Any]) -> dict[str, Any]:
    time.sleep(float(state["secs"]))
    return {"woke": True}


def big(state: dict[str, Any]) -> dict[str, Any]:
    return {"blob": "x" * int(state["size"])}


running: Counter[str] = Counter()
peak: Counter[str] = Counter()


gates: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
"""Opened by a test to let the ``hold`` calls with that key finish."""


@contextmanager
def _overlapping(key: str) -> Iterator[None]:
    running[key] += 1
    peak[key] = max(peak[key], running[key])
    try:
        yield
    finally:
        running[key] -= 1


async def occupy(state: dict[str, Any]) -> dict[str, Any]:
    """Holds a slot for ``state["secs"]``, recording how many calls with the same key overlapped."""
    with _overlapping(str(state["key"])):
        await asyncio.sleep(float(state["secs"]))
    return {}


async def hold(state: dict[str, Any]) -> dict[str, Any]:
    """Holds a slot until the test opens ``gates[key]``, recording overlaps as ``occupy`` does."""
    key = str(state["key"])
    with _overlapping(key):
        await gates[key].wait()
    return {}


racers: dict[str, Callable[[], Awaitable[None]]] = {}
"""Set by a test: what ``race_outcome`` with that key does before it returns."""


async def race_outcome(state: dict[str, Any]) -> dict[str, Any]:
    """Lets another writer record this dispatch's outcome first (``racers``), then returns its own."""
    await racers[str(state["key"])]()
    return {"by": "inline"}


async def hang_once(state: dict[str, Any]) -> dict[str, Any]:
    """Hangs (until its process dies) the first time any process calls it for ``state["marker"]``."""
    if await asyncio.to_thread(_first_to_mark, Path(str(state["marker"]))):
        await asyncio.sleep(3600)
    _count(state)
    return {"survived": True}


def fail_with_class(state: dict[str, Any]) -> dict[str, Any]:
    """Raises a RetryableError of class ``state["class"]`` for its first ``state["fail_times"]`` calls."""
    if _count(state) <= int(state.get("fail_times", 1)):
        raise RetryableError("classified failure", error_class=str(state["class"]))
    return {"recovered": True}


def rate_limited(state: dict[str, Any]) -> dict[str, Any]:
    """Rate-limited on its first call, asking to wait ``state["retry_after"]`` seconds."""
    if _count(state) == 1:
        raise RetryableError(
            "429 too many requests", error_class="rate_limit", retry_after=float(state["retry_after"])
        )
    return {"served": True}


async def late_first(state: dict[str, Any]) -> dict[str, Any]:
    """The first call takes ``state["secs"]``; later ones answer at once. The output says which."""
    if _count(state) == 1:
        await asyncio.sleep(float(state["secs"]))
        return {"by": "first"}
    return {"by": "later"}


async def hang_then_fail_once(state: dict[str, Any]) -> dict[str, Any]:
    """Call 1 hangs until cancelled, call 2 fails with a retryable error, call 3 succeeds."""
    call = _count(state)
    if call == 1:
        await asyncio.sleep(3600)
    if call == 2:
        raise ConnectionError("flaky link")
    return {"third_time": True}


def _first_to_mark(marker: Path) -> bool:
    try:
        marker.touch(exist_ok=False)
    except FileExistsError:
        return False
    return True
