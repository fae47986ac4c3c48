"""Executors by node-kind tag."""

from __future__ import annotations

from collections.abc import Iterable

from jamjet_common.errors import FatalError
from services.worker.executors.base import Executor
from services.worker.executors.condition import ConditionExecutor
from services.worker.executors.eval import EvalExecutor
from services.worker.executors.python_fn import PythonFnExecutor
from services.worker.executors.structural import NoOpExecutor


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

    @property
    def tags(self) -> list[str]:
        return sorted(self._by_tag)


def builtin_registry(python_allowed_modules: Iterable[str] = ()) -> ExecutorRegistry:
    """The executors every worker has: condition, python_fn, and the structural no-ops."""
    registry = ExecutorRegistry()
    allowed = tuple(python_allowed_modules)
    registry.register("condition", ConditionExecutor())
    registry.register("python_fn", PythonFnExecutor(allowed))
    registry.register("eval", EvalExecutor(registry, allowed))
    for tag in ("parallel", "join"):
        registry.register(tag, NoOpExecutor())
    return registry
