"""Node functions of the fault-injection workflows (python_fn nodes import them by name).

Workers are separate processes that get killed, so nothing here keeps state between calls: a flaky
node draws its failure at random on every attempt, and the expected outcome of an execution is read
from its log afterwards, never predicted.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from jamjet_common.errors import RetryableError

DEFAULT_SLOW_SECS = (0.2, 1.5)
DEFAULT_FAIL_P = 0.5


def fast(state: dict[str, Any]) -> dict[str, Any]:
    return {"fast": int(state.get("fast", 0)) + 1}


async def slow(state: dict[str, Any]) -> dict[str, Any]:
    """Sleeps long enough for a kill to land while the node runs."""
    low = float(state.get("slow_min", DEFAULT_SLOW_SECS[0]))
    high = float(state.get("slow_max", DEFAULT_SLOW_SECS[1]))
    await asyncio.sleep(random.uniform(low, high))
    return {"slow": int(state.get("slow", 0)) + 1}


def flaky(state: dict[str, Any]) -> dict[str, Any]:
    """Fails with a retryable error with probability ``state['fail_p']``."""
    if random.random() < float(state.get("fail_p", DEFAULT_FAIL_P)):
        raise RetryableError("injected transient failure")
    return {"flaky_ok": True}


def boom(state: dict[str, Any]) -> dict[str, Any]:
    raise ValueError("injected fatal failure")
