"""Executors and the attempt runner, without NATS: python_fn, structural kinds, timeouts, errors."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import msgspec
import pytest

from jamjet_common.errors import FatalError, RetryableError
from jamjet_common.ir import NodeDef
from services.worker.executors import ExecutionContext, ExecutionResult, ExecutorRegistry, builtin_registry
from services.worker.executors.python_fn import PythonFnExecutor
from services.worker.failures import Failure, classify
from services.worker.runner import Success, run_node
from tests.worker import fns
from tests.worker.builders import fn_node, work_item

TESTS = ("tests",)


def ctx_for(
    node: NodeDef, state: dict[str, Any] | None = None, timeout: float | None = None
) -> ExecutionContext:
    return ExecutionContext(item=work_item(node, state, timeout_secs=timeout), attempt=0, worker_id="w-1")


async def run_fn(
    function: str, state: dict[str, Any] | None = None, allowed_modules: tuple[str, ...] = TESTS
) -> ExecutionResult:
    return await PythonFnExecutor(allowed_modules).execute(ctx_for(fn_node(function), state))


async def fail_fn(
    function: str, module: str = "tests.worker.fns", allowed_modules: tuple[str, ...] = TESTS
) -> str:
    with pytest.raises(FatalError) as caught:
        await PythonFnExecutor(allowed_modules).execute(ctx_for(fn_node(function, module=module), {}))
    return caught.value.message


# ---- python_fn -----------------------------------------------------------------------------------------


async def test_sync_function_dict_result_is_output_and_state_patch() -> None:
    result = await run_fn("greet", {"name": "ada", "key": "unit-sync"})
    expected = {"greeting": "hello ada", "greeted_by": "sync"}
    assert result.output == expected
    assert result.state_patch == expected


async def test_async_function_is_awaited() -> None:
    result = await run_fn("greet_async", {"name": "bo", "key": "unit-async"})
    assert result.state_patch == {"greeting": "hello bo", "greeted_by": "async"}


async def test_sync_function_runs_off_the_event_loop_thread() -> None:
    result = await run_fn("thread_name")
    assert result.output["thread"] != threading.current_thread().name
    assert result.output["thread"].startswith("python_fn:")


async def test_non_dict_result_is_wrapped_and_patches_nothing() -> None:
    result = await run_fn("answer")
    assert result.output == {"result": 42}
    assert result.state_patch == {}


async def test_function_gets_the_state() -> None:
    result = await run_fn("greet", {"name": "state-name", "key": "unit-state"})
    assert result.output["greeting"] == "hello state-name"


async def test_exception_of_the_function_propagates_unchanged() -> None:
    with pytest.raises(ValueError, match="makes no sense"):
        await run_fn("broken", {"key": "unit-broken"})


async def test_import_error_is_fatal_and_names_the_module() -> None:
    message = await fail_fn("anything", module="tests.worker.no_such_module")
    assert message.startswith("python_fn: cannot import module 'tests.worker.no_such_module'")
    assert "ModuleNotFoundError" in message


async def test_missing_function_is_fatal() -> None:
    message = await fail_fn("no_such_function")
    assert message == "python_fn: module 'tests.worker.fns' has no function 'no_such_function'"


async def test_non_callable_attribute_is_not_a_function() -> None:
    message = await fail_fn("calls")
    assert "has no function 'calls'" in message


async def test_module_outside_the_allowed_prefixes_is_refused() -> None:
    message = await fail_fn("greet", allowed_modules=("tests.scheduler", "app"))
    assert message.startswith("python module 'tests.worker.fns' is not allowed on this worker")
    assert "tests.scheduler, app" in message


async def test_allowed_prefix_covers_submodules_only_at_dot_boundaries() -> None:
    result = await run_fn("answer", allowed_modules=("tests.worker",))
    assert result.output == {"result": 42}
    assert "not allowed" in await fail_fn("answer", allowed_modules=("tests.work",))


async def test_unserializable_result_is_fatal() -> None:
    message = await fail_fn("unserializable")
    assert "tests.worker.fns.unserializable returned a value that is not JSON-serializable" in message


async def test_imported_modules_are_cached() -> None:
    executor = PythonFnExecutor(TESTS)
    first = await executor.function("tests.worker.fns", "answer")
    second = await executor.function("tests.worker.fns", "answer")
    assert first is second is fns.answer


# ---- registry and structural kinds ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", [{"type": "parallel", "branches": ["a", "b"]}, {"type": "join"}])
async def test_structural_kinds_are_no_ops(kind: dict[str, Any]) -> None:
    node = msgspec.convert({"id": "s", "kind": kind}, NodeDef)
    outcome = await run_node(builtin_registry(TESTS), ctx_for(node))
    assert isinstance(outcome, Success)
    assert (outcome.result.output, outcome.result.state_patch) == ({}, {})


async def test_unknown_kind_fails_fatally_naming_the_kind() -> None:
    node = msgspec.convert({"id": "t", "kind": {"type": "tool", "tool_ref": "x"}}, NodeDef)
    outcome = await run_node(builtin_registry(TESTS), ctx_for(node))
    assert outcome == Failure("no executor for node kind 'tool' on this worker", retryable=False)


def test_builtin_registry_serves_the_builtin_kinds() -> None:
    tags = ["agent_tool_dispatch", "condition", "eval", "join", "parallel", "python_fn"]
    assert builtin_registry(TESTS).tags == tags


# ---- runner: durations, timeouts, classification --------------------------------------------------------


async def test_success_records_the_duration() -> None:
    outcome = await run_node(builtin_registry(TESTS), ctx_for(fn_node("sleepy"), {"secs": 0.05}))
    assert isinstance(outcome, Success)
    assert outcome.result.duration_ms >= 50


async def test_node_timeout_is_a_retryable_failure() -> None:
    ctx = ctx_for(fn_node("slow"), {"secs": 30, "key": "unit-timeout"}, timeout=0.2)
    outcome = await asyncio.wait_for(run_node(builtin_registry(TESTS), ctx), timeout=5)
    assert outcome == Failure("node timed out after 0.2s", retryable=True, error_class="timeout")


async def test_timeout_raised_by_the_function_itself_is_not_the_node_timeout() -> None:
    class Raises:
        async def execute(self, ctx: ExecutionContext) -> ExecutionResult:
            raise TimeoutError("db too slow")

    registry = ExecutorRegistry()
    registry.register("python_fn", Raises())
    outcome = await run_node(registry, ctx_for(fn_node("x"), timeout=10))
    assert outcome == Failure("TimeoutError: db too slow", retryable=True, error_class="timeout")


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            RetryableError("slow down", retry_after=2.5, error_class="rate_limit"),
            Failure("slow down", retryable=True, retry_after=2.5, error_class="rate_limit"),
        ),
        (RetryableError("busy"), Failure("busy", retryable=True)),
        (RetryableError("5xx", error_class="server_error"), Failure("5xx", True, error_class="server_error")),
        (TimeoutError("slow"), Failure("TimeoutError: slow", retryable=True, error_class="timeout")),
        (
            ConnectionResetError("reset"),
            Failure("ConnectionResetError: reset", retryable=True, error_class="connection_reset"),
        ),
        (
            ConnectionRefusedError("refused"),
            Failure("ConnectionRefusedError: refused", retryable=True, error_class="io_error"),
        ),
        (OSError("disk gone"), Failure("OSError: disk gone", retryable=True, error_class="io_error")),
        (FatalError("no way"), Failure("no way", retryable=False)),
        (ValueError("bad"), Failure("ValueError: bad", retryable=False)),
        (KeyError("name"), Failure("KeyError: 'name'", retryable=False)),
        (RuntimeError(), Failure("RuntimeError", retryable=False)),
    ],
)
def test_classification(exc: Exception, expected: Failure) -> None:
    assert classify(exc) == expected


async def test_function_errors_are_classified_through_the_runner() -> None:
    fatal = await run_node(builtin_registry(TESTS), ctx_for(fn_node("broken"), {"key": "unit-runner"}))
    assert fatal == Failure("ValueError: the input makes no sense", retryable=False)
    refused = await run_node(builtin_registry(TESTS), ctx_for(fn_node("refuse")))
    assert refused == Failure("refused on purpose", retryable=False)
