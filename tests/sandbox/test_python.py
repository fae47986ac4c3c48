"""python_fn and python tools through the running services: only what the operator allowed runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.worker.sandbox.refusal import PYTHON_MODULE
from tests.e2e.stack import Stack, services
from tests.sandbox.support import kinds_of, python_fn, python_tool, refusal, run_once, touch_state

pytestmark = pytest.mark.e2e

UNSET = ""
"""A blank allowlist is an unset one."""


async def test_without_an_allowlist_no_python_runs_and_the_error_names_the_variable(
    stack: Stack, tmp_path: Path
) -> None:
    async with services(stack, JAMJET_PYTHON_ALLOWED_MODULES=UNSET):
        execution_id = await run_once(stack, python_fn("subprocess", "run"), touch_state(tmp_path / "pwned"))
    error = refusal(stack, execution_id, PYTHON_MODULE)
    assert "JAMJET_PYTHON_ALLOWED_MODULES is not set" in error and "JAMJET_DEV_MODE" in error
    assert not (tmp_path / "pwned").exists()


async def test_without_an_allowlist_even_an_ordinary_module_is_refused(stack: Stack) -> None:
    async with services(stack, JAMJET_PYTHON_ALLOWED_MODULES=UNSET):
        execution_id = await run_once(stack, python_fn("tests.sandbox.fns", "echo"))
    assert "JAMJET_PYTHON_ALLOWED_MODULES" in refusal(stack, execution_id, PYTHON_MODULE)


@pytest.mark.parametrize(
    ("module", "function"),
    [("subprocess", "run"), ("os", "system"), ("builtins", "exec"), ("importlib", "import_module")],
)
async def test_dev_mode_allows_any_module_but_the_hosts_own(
    stack: Stack, tmp_path: Path, module: str, function: str
) -> None:
    async with services(stack, JAMJET_PYTHON_ALLOWED_MODULES=UNSET, JAMJET_DEV_MODE="1"):
        refused = await run_once(stack, python_fn(module, function), touch_state(tmp_path / "pwned"))
        allowed = await run_once(stack, {**python_fn("tests.sandbox.fns", "echo"), "workflow_id": "ok"})
    assert f"python module '{module}' is not allowed" in refusal(stack, refused, PYTHON_MODULE)
    assert not (tmp_path / "pwned").exists()
    assert stack.recorder.terminal[allowed] == "workflow_completed"


@pytest.mark.parametrize(
    ("allowed", "module"),
    [
        ("os", "os_helpers"),
        ("os_helpers", "os"),
        ("tests", "testsuite"),
        ("tests.sandbox", "tests.sandbox_x"),
    ],
)
async def test_an_allowlist_entry_matches_whole_package_names_only(
    stack: Stack, allowed: str, module: str
) -> None:
    async with services(stack, JAMJET_PYTHON_ALLOWED_MODULES=allowed):
        execution_id = await run_once(stack, python_fn(module, "run"))
    assert f"python module '{module}' is not allowed" in refusal(stack, execution_id, PYTHON_MODULE)


@pytest.mark.parametrize("module", ["os.path", "subprocess", "importlib.util", "_posixsubprocess"])
async def test_a_prefix_never_reaches_into_the_hosts_modules(stack: Stack, module: str) -> None:
    """``o``, ``sub``, ``importlib`` as a prefix, or an allowlist of everything dotted: none lets these in."""
    async with services(stack, JAMJET_PYTHON_ALLOWED_MODULES="tests,o,sub,importlib,_"):
        execution_id = await run_once(stack, python_fn(module, "run"))
    refusal(stack, execution_id, PYTHON_MODULE)


@pytest.mark.parametrize("function", ["run", "__builtins__", "__loader__"])
async def test_an_allowed_module_does_not_lend_what_it_imported(
    stack: Stack, tmp_path: Path, function: str
) -> None:
    """``tests.sandbox.fns`` imports ``subprocess.run``; its dunders reach the interpreter."""
    async with services(stack):
        execution_id = await run_once(
            stack, python_fn("tests.sandbox.fns", function), touch_state(tmp_path / "x")
        )
    refusal(stack, execution_id, PYTHON_MODULE)
    assert not (tmp_path / "x").exists()


async def test_a_python_tool_is_under_the_same_rules(stack: Stack, tmp_path: Path) -> None:
    async with services(stack, JAMJET_DEV_MODE="1"):
        execution_id = await run_once(stack, python_tool("subprocess:run"), touch_state(tmp_path / "pwned"))
    assert "python module 'subprocess' is not allowed" in refusal(stack, execution_id, PYTHON_MODULE)
    assert not (tmp_path / "pwned").exists()


async def test_an_allowed_function_still_runs(stack: Stack) -> None:
    async with services(stack):
        execution_id = await run_once(stack, python_fn("tests.sandbox.fns", "echo"), {"b": 1, "a": 2})
    assert stack.recorder.terminal[execution_id] == "workflow_completed"
    assert kinds_of(stack, execution_id, "node_completed")[0]["output"] == {"echoed": ["a", "b"]}
    assert kinds_of(stack, execution_id, "policy_violation") == []
