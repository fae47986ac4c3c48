"""The ``python_fn`` node: call ``module.function(state)`` in this worker process.

Async functions are awaited on the event loop; plain functions run in a daemon thread (kept for the
next call once the function returns), so that a function stuck past its node timeout neither blocks
the loop nor keeps the process from exiting.
A dict result is both the node's output and its state patch; anything else becomes
``{"result": value}`` and patches nothing.
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import inspect
from collections.abc import Callable
from functools import partial
from types import ModuleType
from typing import Any

import msgspec

from jamjet_common.errors import FatalError
from jamjet_common.ir import PythonFnNode
from services.worker.executors import python_targets
from services.worker.executors.base import ExecutionContext, ExecutionResult
from services.worker.executors.daemon_threads import LOOSEN_AFTER_SECS, DaemonThreads
from services.worker.executors.handoff import Handoff, QuickFunctions, unwrap
from services.worker.sandbox.python_modules import ModulePolicy


class PythonFnExecutor:
    """Calls Python functions the ``allowed_modules`` policy allows (see ``sandbox/python_modules.py``).

    A tuple is an allowlist; without either, nothing is allowed.
    """

    def __init__(self, allowed_modules: ModulePolicy | tuple[str, ...] | None = None) -> None:
        policy = allowed_modules
        self._policy = policy if isinstance(policy, ModulePolicy) else ModulePolicy(policy)
        self._modules: dict[str, ModuleType] = {}

    async def execute(self, ctx: ExecutionContext) -> ExecutionResult:
        kind = ctx.node.kind
        if not isinstance(kind, PythonFnNode):
            raise FatalError(f"python_fn executor cannot run a '{kind.tag}' node")
        function = await self.function(kind.module, kind.function)
        model = python_targets.state_model(function)
        state = dict(ctx.state) if model is None else python_targets.build_state(model, ctx.state)
        value = await call(function, state)
        return as_result(python_targets.as_patch(value), f"{kind.module}.{kind.function}")

    async def function(self, module_name: str, function_name: str) -> Callable[..., Any]:
        self._policy.check_module(module_name)
        self._policy.check_function_path(function_name)
        function = python_targets.attribute(await self._module(module_name), function_name)
        self._policy.check_callable(function, f"python_fn {module_name}.{function_name}")
        return function

    async def _module(self, name: str) -> ModuleType:
        module = self._modules.get(name)
        if module is None:
            try:
                module = await asyncio.to_thread(importlib.import_module, name)
            except Exception as exc:
                raise FatalError(f"python_fn: cannot import module '{name}': {_describe(exc)}") from exc
            self._modules[name] = module
        return module


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def call(function: Callable[..., Any], state: dict[str, Any]) -> Any:
    if inspect.iscoroutinefunction(function):
        value = await function(state)
    else:
        value = await run_in_daemon_thread(function, state, quick_key=function)
    if inspect.isawaitable(value):
        value = await value
    return value


def as_result(value: Any, name: str) -> ExecutionResult:
    try:
        value = msgspec.to_builtins(value, str_keys=True)
    except (TypeError, ValueError) as exc:
        raise FatalError(f"python_fn {name} returned a value that is not JSON-serializable: {exc}") from exc
    if isinstance(value, dict):
        return ExecutionResult(output=value, state_patch=value)
    return ExecutionResult(output={"result": value}, state_patch={})


THREADS = DaemonThreads("python_fn")
QUICK = QuickFunctions()


async def run_in_daemon_thread(function: Callable[..., Any], *args: Any, quick_key: object = None) -> Any:
    """``function(*args)`` in a daemon thread; cancelling the await abandons the thread to it.

    ``quick_key``: what names the function across calls, for its result to be taken at once when it
    comes quickly (``handoff``); None: always through the loop."""
    loop = asyncio.get_running_loop()
    handoff = Handoff(loop)
    context = contextvars.copy_context()

    def target() -> Callable[[], None]:
        try:
            value = context.run(function, *args)
        except Exception as exc:
            return partial(handoff.deliver, None, exc)
        except BaseException as exc:  # SystemExit and the like must not escape a worker thread
            return partial(handoff.deliver, None, FatalError(_describe(exc)))
        return partial(handoff.deliver, value, None)

    ticket = THREADS.submit(target)
    if ticket.alone and quick_key is not None and QUICK.worth_waiting(quick_key):
        outcome = handoff.wait_briefly()
        if outcome is not None:
            return unwrap(outcome)
        QUICK.missed(quick_key)
    # A long call, alone or not, runs on any CPU: its function may release the GIL for the loop.
    loosen = loop.call_later(LOOSEN_AFTER_SECS, ticket.loosen)
    try:
        return await handoff.future
    finally:
        loosen.cancel()
