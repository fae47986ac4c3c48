"""Executors by node-kind tag."""

from __future__ import annotations

from jamjet_common.errors import FatalError
from jamjet_common.ir import NodeKind
from services.worker.executors.agent_dispatch import AgentDispatchExecutor
from services.worker.executors.base import Executor
from services.worker.executors.condition import ConditionExecutor
from services.worker.executors.eval import EvalExecutor
from services.worker.executors.python_fn import PythonFnExecutor
from services.worker.executors.structural import NoOpExecutor
from services.worker.sandbox.python_modules import ModulePolicy
from services.worker.tool_calls import is_agent_dispatch

AGENT_DISPATCH = "agent_tool_dispatch"
"""Not a node kind: the registry entry for ``python_fn`` nodes that run an agent turn's tool calls."""


class ExecutorRegistry:
    def __init__(self) -> None:
        self._by_tag: dict[str, Executor] = {}

    def register(self, tag: str, executor: Executor) -> None:
        self._by_tag[tag] = executor

    def get(self, tag: str) -> Executor:
        executor = self._by_tag.get(tag)
        if executor is None:
            raise FatalError(f"no executor for node kind '{tag}' on this worker")
        return executor

    def for_kind(self, kind: NodeKind) -> Executor:
        """The executor of a node kind; an SDK agent turn's tool dispatch has its own."""
        return self.get(AGENT_DISPATCH if is_agent_dispatch(kind) else kind.tag)

    @property
    def tags(self) -> list[str]:
        return sorted(self._by_tag)


def builtin_registry(python: ModulePolicy | tuple[str, ...] | None = None) -> ExecutorRegistry:
    """The executors every worker has: condition, python_fn, and the structural no-ops.

    ``python``: the modules python_fn and eval scorers may call (a tuple: an allowlist; none: nothing).
    """
    registry = ExecutorRegistry()
    registry.register("condition", ConditionExecutor())
    functions = PythonFnExecutor(python)
    registry.register("python_fn", functions)
    registry.register(AGENT_DISPATCH, AgentDispatchExecutor(functions))
    registry.register("eval", EvalExecutor(registry, python))
    for tag in ("parallel", "join"):
        registry.register(tag, NoOpExecutor())
    return registry
