"""The condition executor (reference §10.4) and the eval_condition expression grammar."""

from __future__ import annotations

from typing import Any

import pytest

from jamjet_common.condition import eval_condition
from services.worker.executors import ExecutionContext
from services.worker.executors.condition import ConditionExecutor
from tests.worker.builders import cond_node, work_item

BRANCHES: list[tuple[str | None, str]] = [
    ('state.tier == "gold"', "vip"),
    ('state.tier == "silver"', "priority"),
    (None, "standard"),
]
TARGETS = ["vip", "priority", "standard"]


async def route(branches: list[tuple[str | None, str]], state: dict[str, Any]) -> tuple[Any, Any]:
    ctx = ExecutionContext(item=work_item(cond_node(branches), state), attempt=0, worker_id="w")
    result = await ConditionExecutor().execute(ctx)
    return result.output, result.state_patch


# ---- the executor ---------------------------------------------------------------------------------------


async def test_first_branch_whose_condition_holds_is_chosen() -> None:
    output, patch = await route(BRANCHES, {"tier": "gold"})
    assert output == {"chosen_target": "vip", "branch_targets": TARGETS}
    assert patch == {}


async def test_a_later_matching_branch_beats_the_default() -> None:
    output, _ = await route(BRANCHES, {"tier": "silver"})
    assert output["chosen_target"] == "priority"


async def test_first_match_wins_when_several_hold() -> None:
    output, _ = await route([("state.a", "first"), ("state.a", "second")], {"a": True})
    assert output["chosen_target"] == "first"


async def test_falls_back_to_the_default_branch() -> None:
    output, _ = await route(BRANCHES, {"tier": "bronze"})
    assert output == {"chosen_target": "standard", "branch_targets": TARGETS}


async def test_absent_state_key_falls_back_to_the_default_branch() -> None:
    output, _ = await route(BRANCHES, {})
    assert output["chosen_target"] == "standard"


async def test_no_match_and_no_default_routes_nowhere() -> None:
    output, patch = await route(BRANCHES[:2], {"tier": "bronze"})
    assert output == {"chosen_target": None, "branch_targets": ["vip", "priority"]}
    assert patch == {}


async def test_first_default_branch_is_the_default() -> None:
    output, _ = await route([(None, "one"), (None, "two")], {})
    assert output["chosen_target"] == "one"


async def test_empty_branches_is_a_no_op() -> None:
    assert await route([], {"tier": "gold"}) == ({}, {})


# ---- eval_condition ------------------------------------------------------------------------------------

STATE = {
    "flag": True,
    "off": False,
    "zero": 0,
    "empty": "",
    "nothing": None,
    "items": ["a", "b"],
    "no_items": [],
    "no_fields": {},
    "count": 5,
    "ratio": 0.5,
    "name": "ada",
    "nested": {"deep": {"value": "x"}},
    "five": "5",
}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("state.flag", True),
        ("state.count", True),
        ("state.name", True),
        ("state.items", True),
        ("state.nested.deep", True),
        ("state.off", False),
        ("state.zero", False),
        ("state.empty", False),
        ("state.nothing", False),
        ("state.no_items", False),
        ("state.no_fields", False),
        ("state.missing", False),
        ("state.nested.missing.deeper", False),
        ("  state.flag  ", True),
    ],
)
def test_truthiness(expr: str, expected: bool) -> None:
    assert eval_condition(expr, STATE) is expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ('state.name == "ada"', True),
        ('state.name == "bob"', False),
        ('state.name != "bob"', True),
        ("state.count == 5", True),
        ("state.count == 5.0", True),
        ("state.ratio == 0.5", True),
        ('state.count == "5"', False),
        ("state.five == 5", False),
        ('state.five == "5"', True),
        ("state.flag == true", True),
        ("state.flag == 1", False),
        ("state.zero == false", False),
        ("state.off == false", True),
        ("state.nothing == null", True),
        ('state.nested.deep.value == "x"', True),
        ('state.items == ["a", "b"]', True),
    ],
)
def test_typed_equality_with_json_literals(expr: str, expected: bool) -> None:
    assert eval_condition(expr, STATE) is expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("state.missing == null", True),
        ("state.missing != null", False),
        ('state.missing == "x"', False),
        ('state.missing != "x"', True),
        ("state.nested.missing == null", True),
    ],
)
def test_a_missing_path_equals_null(expr: str, expected: bool) -> None:
    assert eval_condition(expr, STATE) is expected


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ('state.items.0 == "a"', True),
        ('state.items.1 == "b"', True),
        ("state.items.2 == null", True),
        ("state.items.1", True),
        ("state.items.9", False),
    ],
)
def test_numeric_segments_index_arrays(expr: str, expected: bool) -> None:
    assert eval_condition(expr, STATE) is expected


@pytest.mark.parametrize(
    "expr",
    [
        "",
        "flag",
        "state",
        "state.",
        "state..flag",
        "input.flag",
        "state.name == ada",
        "state.name == 'ada'",
        "state.count == ",
        'name == "ada"',
        "state.flag ==",
    ],
)
def test_malformed_expressions_are_false(expr: str) -> None:
    assert eval_condition(expr, STATE) is False
