"""Node-kind executors: the seam (``base``), the registry, and the built-in kinds."""

from services.worker.executors.base import ExecutionContext, ExecutionResult, Executor
from services.worker.executors.registry import ExecutorRegistry, builtin_registry

__all__ = ["ExecutionContext", "ExecutionResult", "Executor", "ExecutorRegistry", "builtin_registry"]
