"""Running one attempt at a node: find its executor, enforce the node timeout, classify failures."""

from __future__ import annotations

import asyncio
import dataclasses
import time

from services.worker.executors import ExecutionContext, ExecutionResult, ExecutorRegistry
from services.worker.failures import TIMEOUT, Failure, classify


@dataclasses.dataclass(frozen=True, slots=True)
class Success:
    result: ExecutionResult


async def run_node(registry: ExecutorRegistry, ctx: ExecutionContext) -> Success | Failure:
    """Run ``ctx``'s node once; never raises except on cancellation."""
    timeout = ctx.item.timeout_secs
    timer = asyncio.timeout(timeout)
    started = time.monotonic()
    try:
        executor = registry.get(ctx.node.kind.tag)
        async with timer:
            result = await executor.execute(ctx)
    except Exception as exc:
        if timer.expired():
            return Failure(f"node timed out after {timeout:g}s", retryable=True, error_class=TIMEOUT)
        return classify(exc)
    elapsed_ms = int((time.monotonic() - started) * 1000)
    return Success(dataclasses.replace(result, duration_ms=result.duration_ms or elapsed_ms))
