"""Running one attempt at a node: find its executor, enforce the node timeout, classify failures."""

from __future__ import annotations

import asyncio
import dataclasses
import time

from services.worker import tracing
from services.worker.executors import ExecutionContext, ExecutionResult, ExecutorRegistry
from services.worker.failures import TIMEOUT, Failure, classify


@dataclasses.dataclass(frozen=True, slots=True)
class Success:
    result: ExecutionResult


async def run_node(
    registry: ExecutorRegistry, ctx: ExecutionContext, *, capture_prompts: bool = False
) -> Success | Failure:
    """Run ``ctx``'s node once; never raises except on cancellation."""
    started = time.monotonic()
    outcome = await _attempt(registry, ctx, capture_prompts)
    elapsed_ms = int((time.monotonic() - started) * 1000)
    if isinstance(outcome, ExecutionResult):
        outcome = dataclasses.replace(outcome, duration_ms=outcome.duration_ms or elapsed_ms)
    tracing.node_outcome(ctx, outcome, elapsed_ms)
    return Success(outcome) if isinstance(outcome, ExecutionResult) else outcome


async def _attempt(
    registry: ExecutorRegistry, ctx: ExecutionContext, capture_prompts: bool
) -> ExecutionResult | Failure:
    timeout = ctx.item.timeout_secs
    timer = asyncio.timeout(timeout)
    try:
        executor = registry.for_kind(ctx.node.kind)
        async with timer:
            return await tracing.traced_call(executor, ctx, capture_prompts)
    except Exception as exc:
        if timer.expired():
            return Failure(f"node timed out after {timeout:g}s", retryable=True, error_class=TIMEOUT)
        return classify(exc)
