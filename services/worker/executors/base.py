"""The executor seam: what an executor is given for one attempt at a node, and what it gives back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from jamjet_common.ir import NodeDef
from jamjet_common.messages import WorkItem


@dataclass(frozen=True, slots=True)
class ExecutionContext:
    """One attempt at one node dispatch."""

    item: WorkItem
    attempt: int
    """0-based: how many attempts at this dispatch were started before this one."""
    worker_id: str

    @property
    def node(self) -> NodeDef:
        return self.item.node

    @property
    def state(self) -> dict[str, Any]:
        """The execution state when the node was dispatched."""
        return self.item.state


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    """A node's successful result; the fields of ``NodeCompleted`` that an executor decides."""

    output: Any = field(default_factory=dict)
    state_patch: Any = field(default_factory=dict)
    """Folded into the execution state as an RFC 7396 merge patch."""
    duration_ms: int = 0
    gen_ai_system: str | None = None
    gen_ai_model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reason: str | None = None
    cost_usd: float | None = None
    provenance: Any = None


class Executor(Protocol):
    """Runs one node kind. Raise ``RetryableError`` for a transient failure; anything else is fatal."""

    async def execute(self, ctx: ExecutionContext) -> ExecutionResult: ...
