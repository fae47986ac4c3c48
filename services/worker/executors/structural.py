"""Structural node kinds: the scheduler does their work (fan-out, AND-join), so running them is a no-op."""

from __future__ import annotations

from services.worker.executors.base import ExecutionContext, ExecutionResult


class NoOpExecutor:
    async def execute(self, ctx: ExecutionContext) -> ExecutionResult:
        return ExecutionResult(output={}, state_patch={})
