"""The pieces behind SDK compatibility, without services: tool calls, policy subjects, python targets."""

from __future__ import annotations

import types
from typing import Any

import msgspec
import pytest
from pydantic import BaseModel

from jamjet_common.errors import FatalError
from jamjet_common.ir import NodeDef, PolicySetIr, PythonFnNode, ToolNode
from jamjet_common.messages import PolicyDecision
from services.worker.executors import python_targets
from services.worker.executors.output_key import output_key_patch
from services.worker.executors.templates import fill
from services.worker.tool_calls import (
    ToolCall,
    ToolCallsError,
    is_agent_dispatch,
    pending_tool_calls,
    subject_node,
    tools_map,
)
from services.worker.tool_policy import combine


def dispatch(**kind: Any) -> PythonFnNode:
    return msgspec.convert({"type": "python_fn", **kind}, PythonFnNode)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ({"module": "app", "function": "f", "agent_tool_dispatch": True}, True),
        ({"module": "jamjet.agents.tool_runtime", "function": "dispatch_tool_calls"}, True),
        ({"module": "jamjet.agents", "function": "tool_runtime.dispatch_tool_calls"}, True),
        ({"module": "app", "function": "dispatch_tool_calls"}, False),
    ],
)
def test_an_agent_dispatch_is_marked_or_names_the_sdk_function(kind: dict[str, Any], expected: bool) -> None:
    assert is_agent_dispatch(dispatch(**kind)) is expected


def test_pending_calls_read_tool_calls_first_then_the_models_and_decode_arguments() -> None:
    model_calls = [
        {"id": "c1", "name": "lookup", "arguments": '{"q": 1}'},
        {"name": "x", "arguments": "nope"},
    ]
    assert pending_tool_calls({"last_model_tool_calls": model_calls}) == [
        ToolCall("c1", "lookup", {"q": 1}),
        ToolCall(None, "x", {}),
    ]
    assert pending_tool_calls({"tool_calls": [], "last_model_tool_calls": model_calls}) == []


@pytest.mark.parametrize(
    "raw", [{"tool_calls": "delete"}, {"tool_calls": [{"id": "1"}]}, {"tool_calls": [{"name": 3}]}]
)
def test_unreadable_tool_calls_are_refused(raw: dict[str, Any]) -> None:
    with pytest.raises(ToolCallsError):
        pending_tool_calls(raw)


def test_the_registered_tools_map_wins_over_the_states() -> None:
    kind = dispatch(module="m", function="f", input={"tools": {"a": "m:a"}})
    assert tools_map(kind, {"tools": {"a": "evil:a", "b": "m:b"}}) == {"a": "m:a"}
    assert tools_map(dispatch(module="m", function="f"), {"tools": {"b": "m:b", "c": 3}}) == {"b": "m:b"}


def test_a_call_is_evaluated_as_a_tool_node_with_the_dispatch_nodes_policy() -> None:
    policy = PolicySetIr(blocked_tools=["x"])
    node = NodeDef(id="__tools_0__", kind=dispatch(module="m", function="f"), policy=policy)
    subject = subject_node(node, ToolCall("c", "send_invoice", {}))
    assert (
        subject.kind == ToolNode(tool_ref="send_invoice")
        and subject.policy == policy
        and subject.id == node.id
    )


def test_combine_a_block_wins_and_an_approval_carries_the_held_calls() -> None:
    calls = [ToolCall("1", "lookup", {"id": 1}), ToolCall("2", "send", {"n": 2}), ToolCall("3", "delete", {})]
    allow, hold = (
        PolicyDecision(decision="allow"),
        PolicyDecision(decision="require_approval", tool_name="send"),
    )
    block = PolicyDecision(decision="block", tool_name="delete", reason="no")
    assert combine(calls, [allow, hold, block], {"node_id": "n"}).decision == block
    held = combine(calls, [allow, hold, allow], {"node_id": "n"})
    assert held.decision == hold
    assert held.approval_context == {
        "node_id": "n",
        "tool_call_id": "2",
        "arguments": {"n": 2},
        "tool_calls": [{"id": "2", "name": "send", "arguments": {"n": 2}}],
    }
    assert combine(calls, [allow, allow, allow], {"node_id": "n"}).decision == allow


class Shelf:
    class Inner:
        @staticmethod
        def pick(state: dict[str, Any]) -> dict[str, Any]:
            return state


def test_a_dotted_function_path_is_resolved_attribute_by_attribute() -> None:
    module = types.ModuleType("shop")
    module.Shelf = Shelf  # type: ignore[attr-defined]
    assert python_targets.attribute(module, "Shelf.Inner.pick") is Shelf.Inner.pick
    for bad in ("Shelf.__class__", "Shelf..pick", "Shelf.missing"):
        with pytest.raises(FatalError):
            python_targets.attribute(module, bad)


def test_the_sdk_dispatch_cannot_run_as_a_plain_python_fn() -> None:
    from jamjet.agents import tool_runtime

    with pytest.raises(FatalError, match="agent tool dispatch"):
        python_targets.attribute(tool_runtime, "dispatch_tool_calls")


class State(BaseModel):
    name: str
    count: int = 0


def step(state: State) -> State:
    return state.model_copy(update={"count": state.count + 1})


def test_a_pydantic_first_parameter_gets_the_model_and_a_returned_model_is_the_patch() -> None:
    model = python_targets.state_model(step)
    assert model is State
    built = python_targets.build_state(State, {"name": "a", "__budget": {}})
    assert python_targets.as_patch(step(built)) == {"name": "a", "count": 1}
    assert python_targets.state_model(lambda state: state) is None
    with pytest.raises(FatalError, match="does not fit State"):
        python_targets.build_state(State, {"count": "many"})


def test_input_values_render_templates_and_a_lone_placeholder_keeps_its_type() -> None:
    state = {"q": "tides", "n": 3, "user": {"name": "Ada"}}
    assert fill("{{ state.n }}", state) == 3
    assert fill("Hi {{ state.user.name }}: {{ state.q }}", state) == "Hi Ada: tides"
    assert fill("state.user", state) == {"name": "Ada"}
    assert (fill(5, state), fill("plain", state)) == (5, "plain")


def test_an_identifier_output_schema_is_a_state_key() -> None:
    assert output_key_patch("verdict", '```json\n{"passed": true}\n```') == {"verdict": {"passed": True}}
    assert output_key_patch("result", "plain text") == {"result": "plain text"}
    assert output_key_patch("result", "42") == {"result": "42"}
    assert output_key_patch("schemas.Summary", "x") == {} and output_key_patch("", "x") == {}
