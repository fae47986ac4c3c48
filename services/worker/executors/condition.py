"""The ``condition`` node: pick the branch the scheduler routes to.

The first branch whose condition holds on the state wins, else the first branch without a condition
(the default), else none (``chosen_target`` null: the scheduler skips every branch). A node without
branches routes nowhere in particular: it is a no-op and all its successors run.
"""

from __future__ import annotations

from typing import Any

from jamjet_common.condition import eval_condition
from jamjet_common.errors import FatalError
from jamjet_common.ir import ConditionalBranch, ConditionNode
from services.worker.executors.base import ExecutionContext, ExecutionResult


class ConditionExecutor:
    async def execute(self, ctx: ExecutionContext) -> ExecutionResult:
        kind = ctx.node.kind
        if not isinstance(kind, ConditionNode):
            raise FatalError(f"condition executor cannot run a '{kind.tag}' node")
        return route(kind.branches, ctx.state)


def route(branches: list[ConditionalBranch], state: dict[str, Any]) -> ExecutionResult:
    if not branches:
        return ExecutionResult(output={}, state_patch={})
    output = {"chosen_target": choose(branches, state), "branch_targets": [b.target for b in branches]}
    return ExecutionResult(output=output, state_patch={})


def choose(branches: list[ConditionalBranch], state: dict[str, Any]) -> str | None:
    for branch in branches:
        if branch.condition is not None and eval_condition(branch.condition, state):
            return branch.target
    return next((b.target for b in branches if b.condition is None), None)
