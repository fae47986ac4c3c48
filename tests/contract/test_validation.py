"""validate_workflow: one specific message per problem, every problem at once; warnings for the rest."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from jamjet_common.errors import InvalidIrError
from jamjet_common.ir import WorkflowIr
from jamjet_common.validation import find_cycle, validate_workflow
from tests.contract.samples import decode_ir, edge, node

TOOL = {"type": "tool", "tool_ref": "t"}
UNKNOWN_FAST = (
    "node 'a': retry_policy 'fast' is neither built in (io_default, llm_default, no_retry) "
    "nor in retry_policies; the default policy applies (3 attempts)"
)


def build(
    node_ids: list[str],
    edges: list[tuple[str, str]],
    *,
    start: str | None = None,
    kinds: dict[str, dict[str, Any]] | None = None,
    **top: Any,
) -> WorkflowIr:
    kinds = kinds or {}
    raw: dict[str, Any] = {
        "workflow_id": "wf",
        "version": "1.0.0",
        "start_node": start if start is not None else node_ids[0],
        "nodes": {n: node(n, kinds.get(n, TOOL)) for n in node_ids},
        "edges": [edge(a, b) for a, b in edges],
        **top,
    }
    return decode_ir(raw)


def problems(wf: WorkflowIr) -> list[str]:
    with pytest.raises(InvalidIrError) as caught:
        validate_workflow(wf)
    assert caught.value.code == "invalid_ir"
    assert str(caught.value) == "invalid workflow IR: " + "; ".join(caught.value.problems)
    return caught.value.problems


def test_a_sound_workflow_passes_without_warnings() -> None:
    assert validate_workflow(build(["a", "b"], [("a", "b"), ("b", "end")])) == []


# ---- metadata -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "version", ["1.0", "v1.0.0", "01.0.0", "1.0.0.0", "1.0.x", "1.0.0-", "latest", "v 2"]
)
def test_a_version_that_is_not_semver_is_accepted_with_a_warning(version: str) -> None:
    assert validate_workflow(build(["a"], [], version=version)) == [
        f"version '{version}' is not a semantic version X.Y.Z: it becomes the latest version when "
        "registered after another, unless both are semantic versions"
    ]


@pytest.mark.parametrize(
    ("version", "problem"),
    [
        ("", "version must be a non-empty string"),
        ("1" * 129, f"version {'1' * 40!r}... is longer than 128 characters"),
        ("1.0\n", "version '1.0\\n' contains control characters"),
    ],
)
def test_an_empty_long_or_control_character_version_is_refused(version: str, problem: str) -> None:
    assert problems(build(["a"], [], version=version)) == [problem]


@pytest.mark.parametrize(
    "version", ["0.0.0", "1.2.3", "10.20.30", "1.0.0-rc.1", "0.1.0+abc123", "1.0.0-alpha+001"]
)
def test_semver_with_pre_release_and_build_is_accepted(version: str) -> None:
    validate_workflow(build(["a"], [], version=version))


@pytest.mark.parametrize(
    "workflow_id", ["my.flow", "support bot", "acme.support", "*", ">", "x" * 256, "flöw"]
)
def test_a_workflow_id_need_not_be_a_subject_token(workflow_id: str) -> None:
    assert validate_workflow(build(["a"], [], workflow_id=workflow_id, name=workflow_id)) == []


@pytest.mark.parametrize(
    ("workflow_id", "problem"),
    [
        ("", "workflow_id must be a non-empty string"),
        ("x" * 257, f"workflow_id {'x' * 40!r}... is longer than 256 characters"),
        ("a\tb", "workflow_id 'a\\tb' contains control characters"),
        ("bot\x85", "workflow_id 'bot\\x85' contains control characters"),
    ],
)
def test_an_empty_long_or_control_character_workflow_id_is_refused(workflow_id: str, problem: str) -> None:
    assert problems(build(["a"], [], workflow_id=workflow_id)) == [problem]


def test_a_name_with_control_characters_is_refused() -> None:
    assert problems(build(["a"], [], name="a\x00b")) == ["name 'a\\x00b' contains control characters"]


def test_a_workflow_without_nodes_is_refused() -> None:
    wf = decode_ir({"workflow_id": "wf", "version": "1.0.0", "start_node": "a", "nodes": {}})
    found = problems(wf)
    assert "the workflow has no nodes" in found
    assert "start node 'a' is not a node of the workflow" in found


# ---- nodes and edges -------------------------------------------------------------------------------------


def test_a_missing_start_node_is_named() -> None:
    assert problems(build(["a"], [("a", "end")], start="ghost")) == [
        "start node 'ghost' is not a node of the workflow"
    ]


def test_an_edge_from_a_missing_node_is_named() -> None:
    assert problems(build(["a"], [("a", "end"), ("ghost", "a")])) == [
        "edge ghost -> a: source 'ghost' is not a node"
    ]


def test_an_edge_to_a_missing_node_is_named() -> None:
    assert problems(build(["a"], [("a", "ghost")])) == [
        "edge a -> ghost: target 'ghost' is neither a node nor 'end'"
    ]


def test_end_as_a_target_is_fine_and_not_a_node() -> None:
    wf = build(["a", "b"], [("a", "end"), ("a", "b"), ("b", "end")])
    validate_workflow(wf)
    assert "end" not in wf.nodes


def test_a_node_named_end_is_refused() -> None:
    assert "node id 'end' must be 1-256 characters and not 'end'" in problems(
        build(["a", "end"], [("a", "end")])
    )


def test_a_node_key_differing_from_its_id_is_named() -> None:
    raw = {
        "workflow_id": "wf",
        "version": "1.0.0",
        "start_node": "a",
        "nodes": {"a": node("b", TOOL)},
        "edges": [edge("a", "end")],
    }
    assert problems(decode_ir(raw)) == ["node key 'a' does not match its id 'b'"]


# ---- condition branches ---------------------------------------------------------------------------------


def condition(*targets: str) -> dict[str, Any]:
    return {"type": "condition", "branches": [{"condition": "state.x", "target": t} for t in targets]}


def test_a_branch_target_without_an_out_edge_is_named() -> None:
    wf = build(["c", "b"], [("c", "end"), ("b", "end")], kinds={"c": condition("b", "end")})
    found = problems(wf)
    assert "condition 'c': branch target 'b' has no edge c -> b" in found


def test_a_branch_target_end_needs_its_edge_too() -> None:
    wf = build(["c", "b"], [("c", "b"), ("b", "end")], kinds={"c": condition("b", "end")})
    assert problems(wf) == ["condition 'c': branch target 'end' has no edge c -> end"]


def test_a_branch_target_that_is_not_a_node_is_named() -> None:
    wf = build(["c"], [("c", "end")], kinds={"c": condition("ghost", "end")})
    assert problems(wf) == ["condition 'c': branch target 'ghost' is neither a node nor 'end'"]


def test_branches_with_matching_edges_pass() -> None:
    validate_workflow(
        build(["c", "b"], [("c", "b"), ("c", "end"), ("b", "end")], kinds={"c": condition("b", "end")})
    )


# ---- graph shape -----------------------------------------------------------------------------------------


def test_a_cycle_is_reported_with_its_nodes_and_path() -> None:
    wf = build(["a", "b", "c"], [("a", "b"), ("b", "c"), ("c", "a")])
    assert problems(wf) == ["edges form a cycle through nodes 'a', 'b', 'c': a -> b -> c -> a"]


def test_a_self_loop_is_a_cycle() -> None:
    assert problems(build(["a"], [("a", "a")])) == ["edges form a cycle through nodes 'a': a -> a"]


def test_a_cycle_away_from_the_start_shows_only_the_loop() -> None:
    wf = build(["s", "x", "y"], [("s", "x"), ("x", "y"), ("y", "x")])
    assert find_cycle(wf) == ["x", "y", "x"]


def test_a_diamond_is_not_a_cycle() -> None:
    wf = build(["a", "b", "c", "d"], [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("d", "end")])
    assert find_cycle(wf) is None
    validate_workflow(wf)


def test_an_unreachable_node_is_accepted_and_named_in_a_warning() -> None:
    wf = build(["a", "b", "island"], [("a", "b"), ("b", "end"), ("island", "end")])
    assert validate_workflow(wf) == ["node 'island' is not reachable from start node 'a': it never runs"]


# ---- retry policies --------------------------------------------------------------------------------------


def with_retry(policy_name: str, **top: Any) -> WorkflowIr:
    raw = {
        "workflow_id": "wf",
        "version": "1.0.0",
        "start_node": "a",
        "nodes": {"a": node("a", TOOL, retry_policy=policy_name)},
        "edges": [edge("a", "end")],
        **top,
    }
    return decode_ir(raw)


@pytest.mark.parametrize("name", ["no_retry", "io_default", "llm_default"])
def test_built_in_retry_policies_need_no_definition(name: str) -> None:
    validate_workflow(with_retry(name))


def test_a_retry_policy_defined_in_the_workflow_is_accepted() -> None:
    validate_workflow(with_retry("careful", retry_policies={"careful": {"max_attempts": 5}}))


def test_an_unknown_retry_policy_name_is_accepted_with_a_warning() -> None:
    assert validate_workflow(with_retry("fast")) == [UNKNOWN_FAST]


def test_a_retry_policy_with_less_than_one_attempt_is_refused() -> None:
    wf = with_retry("never", retry_policies={"never": {"max_attempts": 0}})
    assert problems(wf) == ["retry policy 'never': max_attempts must be at least 1"]


# ---- scale and aggregation -------------------------------------------------------------------------------


def chain(length: int) -> list[str]:
    return [f"n{i}" for i in range(length)]


def test_a_2000_node_chain_validates_without_recursion_errors() -> None:
    ids = chain(2000)
    wf = build(ids, [*itertools.pairwise(ids), (ids[-1], "end")])
    validate_workflow(wf)


def test_a_2000_node_cycle_is_found_without_recursion_errors() -> None:
    ids = chain(2000)
    wf = build(ids, [*itertools.pairwise(ids), (ids[-1], ids[0])])
    cycle = find_cycle(wf)
    assert cycle is not None
    assert cycle == [*ids, ids[0]]


def test_several_problems_are_all_reported_at_once() -> None:
    raw = {
        "workflow_id": "",
        "version": "",
        "start_node": "ghost",
        "nodes": {"a": node("a", TOOL, retry_policy="fast")},
        "edges": [edge("a", "nowhere")],
        "retry_policies": {"zero": {"max_attempts": 0}},
    }
    found = problems(decode_ir(raw))
    assert found == [
        "workflow_id must be a non-empty string",
        "version must be a non-empty string",
        "start node 'ghost' is not a node of the workflow",
        "edge a -> nowhere: target 'nowhere' is neither a node nor 'end'",
        "retry policy 'zero': max_attempts must be at least 1",
    ]
