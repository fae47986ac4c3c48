"""Events on the wire: the original's snake_case ``type`` tags, field names and envelope (reference §3)."""

from __future__ import annotations

import json
import re
import typing
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from jamjet_common import codec
from jamjet_common.events import (
    EVENT_DECODER,
    HEAD_DECODER,
    Event,
    EventKind,
    EventKindBase,
    Exhaustion,
    NodeCompleted,
    NodeFailed,
)

KINDS: list[type[EventKindBase]] = list(typing.get_args(EventKind))
KINDS_TUPLE = typing.get_args(EventKind)

REFERENCE_TAGS = {
    # workflow lifecycle
    "workflow_started", "workflow_completed", "workflow_failed", "workflow_cancelled",
    # node lifecycle
    "node_scheduled", "node_started", "node_completed", "node_failed", "node_parked", "node_skipped",
    "node_cancelled", "retry_scheduled",
    # approval / interrupt, timers / external, child workflows
    "interrupt_raised", "approval_received", "timer_created", "timer_fired", "external_event_received",
    "child_workflow_started", "child_workflow_completed", "child_workflow_failed",
    # budget / autonomy, policy
    "budget_exceeded", "token_budget_exceeded", "cost_budget_exceeded", "autonomy_limit_reached",
    "circuit_breaker_tripped", "escalation_required", "policy_violation", "tool_approval_required",
    # reasoning strategy
    "strategy_started", "plan_generated", "iteration_started", "tool_called", "critic_verdict",
    "iteration_completed", "strategy_limit_hit", "strategy_completed",
    # coordinator, agent as tool, segments
    "coordinator_discovery", "coordinator_scoring", "coordinator_decision", "agent_tool_invoked",
    "agent_tool_progress", "agent_tool_turn", "agent_tool_completed", "agent_tool_terminated",
    "agent_tool_failed", "segment_boundary",
}  # fmt: skip

ORIGINAL_REQUIRED: dict[str, set[str]] = {
    "workflow_started": {"workflow_id", "workflow_version", "initial_input"},
    "workflow_completed": {"final_state"},
    "workflow_failed": {"error"},
    "workflow_cancelled": set(),
    "node_scheduled": {"node_id", "queue_type"},
    "node_started": {"node_id", "worker_id", "attempt"},
    "node_completed": {"node_id", "output", "state_patch", "duration_ms"},
    "node_failed": {"node_id", "error", "attempt", "retryable"},
    "node_parked": {"node_id", "attempt", "retry_after"},
    "node_skipped": {"node_id", "reason"},
    "node_cancelled": {"node_id"},
    "retry_scheduled": {"node_id", "attempt", "delay_ms"},
    "interrupt_raised": {"node_id", "reason", "state_for_review"},
    "approval_received": {"node_id", "user_id", "decision"},
    "timer_created": {"node_id", "fire_at"},
    "timer_fired": {"node_id"},
    "external_event_received": {"correlation_key", "payload"},
    "child_workflow_started": {"node_id", "child_execution_id", "child_workflow_id"},
    "child_workflow_completed": {"node_id", "child_execution_id", "result"},
    "child_workflow_failed": {"node_id", "child_execution_id", "error"},
    "budget_exceeded": {"node_id", "kind", "limit", "current"},
    "token_budget_exceeded": {"node_id", "kind", "limit", "current"},
    "cost_budget_exceeded": {"node_id", "limit_usd", "current_usd"},
    "autonomy_limit_reached": {"node_id", "agent_ref", "limit_type", "limit_value", "actual_value"},
    "circuit_breaker_tripped": {"node_id", "agent_ref", "consecutive_errors", "threshold"},
    "escalation_required": {"node_id", "agent_ref", "reason", "escalation_target"},
    "policy_violation": {"node_id", "rule", "decision", "policy_scope"},
    "tool_approval_required": {"node_id", "tool_name", "approver", "context"},
    "strategy_started": {"strategy", "config"},
    "plan_generated": {"steps"},
    "iteration_started": {"iteration"},
    "tool_called": {"node_id", "tool"},
    "critic_verdict": {"node_id", "score", "passed"},
    "iteration_completed": {"iteration", "input_tokens", "output_tokens"},
    "strategy_limit_hit": {"limit_type", "limit_value", "actual_value"},
    "strategy_completed": {"iterations"},
    "coordinator_discovery": {"node_id", "query_skills", "candidates", "filtered_out"},
    "coordinator_scoring": {"node_id", "rankings", "spread", "weights"},
    "coordinator_decision": {"node_id", "method", "confidence", "rejected"},
    "agent_tool_invoked": {"node_id", "agent_uri", "mode", "protocol", "input_hash"},
    "agent_tool_progress": {"node_id", "chunk_index", "partial_output_summary"},
    "agent_tool_turn": {"node_id", "turn_number", "direction", "content_summary", "tokens", "cost"},
    "agent_tool_completed": {"node_id", "output", "total_cost", "latency_ms"},
    "agent_tool_terminated": {"node_id", "reason", "chunks_received", "cost"},
    "agent_tool_failed": {"node_id", "failure_type", "message", "retryable"},
    "segment_boundary": {"segment_number", "next_execution_id"},
}
"""Fields that are not ``Option`` in the original's EventKind: a client decoding our events with its
serde types fails on any of them missing (serde only defaults missing ``Option`` fields)."""
ORIGINAL_ARRAYS = {"steps", "query_skills", "candidates", "filtered_out", "rankings", "rejected"}
"""``Vec`` fields of the original: ``null`` does not decode as a Vec."""

SAMPLE_BY_TYPE: dict[Any, Any] = {str: "x", int: 7, float: 1.5, bool: True}
CREATED = datetime(2026, 6, 29, 12, 0, 0, 123456, tzinfo=UTC)


def snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def required_fields(cls: type[EventKindBase]) -> dict[str, Any]:
    """A value for every field without a default, by its type."""
    return {f.name: SAMPLE_BY_TYPE[f.type] for f in msgspec.structs.fields(cls) if f.required}


def envelope(kind: EventKindBase, sequence: int = 1) -> Event:
    assert isinstance(kind, KINDS_TUPLE)
    return Event(id="0f1e2d3c", execution_id="exec_1", sequence=sequence, created_at=CREATED, kind=kind)


def test_the_union_holds_exactly_the_reference_event_kinds() -> None:
    tags = [cls.__struct_config__.tag for cls in KINDS]
    assert len(tags) == len(set(tags)) == 46
    assert set(tags) == REFERENCE_TAGS == set(ORIGINAL_REQUIRED)


@pytest.mark.parametrize("cls", KINDS, ids=lambda cls: cls.__name__)
def test_every_field_the_original_requires_is_always_written(cls: type[EventKindBase]) -> None:
    wire = json.loads(codec.encode(cls(**required_fields(cls))))
    required = ORIGINAL_REQUIRED[wire["type"]]
    assert required <= set(wire), f"missing on the wire: {sorted(required - set(wire))}"
    for name in required & ORIGINAL_ARRAYS:
        assert isinstance(wire[name], list), f"{name} must be an array, not {wire[name]!r}"


@pytest.mark.parametrize("cls", KINDS, ids=lambda cls: cls.__name__)
def test_every_kind_round_trips_with_its_snake_case_tag(cls: type[EventKindBase]) -> None:
    fields = required_fields(cls)
    kind = cls(**fields)
    wire = json.loads(codec.encode(envelope(kind)))
    assert wire["kind"]["type"] == snake_case(cls.__name__) == kind.tag
    for name, value in fields.items():
        assert wire["kind"][name] == value, f"{cls.__name__}.{name} on the wire"
    decoded = EVENT_DECODER.decode(codec.encode(envelope(kind)))
    assert type(decoded.kind) is cls
    assert decoded == envelope(kind)


@pytest.mark.parametrize("cls", KINDS, ids=lambda cls: cls.__name__)
def test_node_scoped_kinds_report_their_node(cls: type[EventKindBase]) -> None:
    kind = cls(**required_fields(cls))
    expected = "x" if "node_id" in required_fields(cls) else None
    assert kind.node == expected


def test_the_envelope_has_exactly_the_original_keys() -> None:
    wire = json.loads(codec.encode(envelope(NodeCompleted(node_id="think", output={"a": 1}), sequence=3)))
    assert set(wire) == {"id", "execution_id", "sequence", "created_at", "kind"}
    assert (wire["id"], wire["execution_id"], wire["sequence"]) == ("0f1e2d3c", "exec_1", 3)
    assert wire["created_at"] == "2026-06-29T12:00:00.123456Z"
    assert wire["kind"]["type"] == "node_completed"


def test_node_completed_omits_unset_optional_fields() -> None:
    kind = NodeCompleted(node_id="think", output={"answer": 42}, state_patch={"answer": 42}, duration_ms=812)
    wire = json.loads(codec.encode(kind))
    assert wire == {
        "type": "node_completed",
        "node_id": "think",
        "output": {"answer": 42},
        "state_patch": {"answer": 42},
        "duration_ms": 812,
    }


def test_node_completed_always_carries_duration_ms_which_the_original_requires() -> None:
    # The original's NodeCompleted.duration_ms is a plain u64: a client using its types cannot
    # decode an event that leaves it out, and a fast node does take 0 ms.
    wire = json.loads(codec.encode(NodeCompleted(node_id="gate", output=None, state_patch={})))
    assert wire["duration_ms"] == 0


def test_node_completed_sets_optional_fields_when_given() -> None:
    kind = NodeCompleted(
        node_id="think",
        duration_ms=5,
        gen_ai_system="anthropic",
        gen_ai_model="claude-haiku",
        input_tokens=10,
        output_tokens=20,
        finish_reason="stop",
        cost_usd=0.001,
        idempotency_key="abc",
    )
    wire = json.loads(codec.encode(kind))
    assert wire["gen_ai_system"] == "anthropic"
    assert (wire["input_tokens"], wire["output_tokens"], wire["finish_reason"]) == (10, 20, "stop")
    assert (wire["cost_usd"], wire["idempotency_key"]) == (0.001, "abc")
    assert "provenance" not in wire


def test_node_failed_keeps_the_originals_shape_and_adds_its_facts_only_when_true() -> None:
    plain = NodeFailed(node_id="n", error="boom", attempt=1, retryable=True)
    assert json.loads(codec.encode(plain)) == {
        "type": "node_failed",
        "node_id": "n",
        "error": "boom",
        "attempt": 1,
        "retryable": True,
    }
    exhausted = Exhaustion(attempts=3, last_error="boom")
    facts = NodeFailed(
        node_id="n",
        error="x",
        attempt=2,
        retryable=False,
        released=True,
        lease_expired=True,
        exhausted=exhausted,
    )
    wire = json.loads(codec.encode(facts))
    assert (wire["released"], wire["lease_expired"]) == (True, True)
    assert wire["exhausted"] == {"attempts": 3, "last_error": "boom"}
    assert msgspec.json.decode(codec.encode(facts), type=EventKind) == facts


ORIGINAL_EVENT = b"""{
  "id": "6f1d8c0e-2f55-4a5e-9b51-0c1d2e3f4a5b",
  "execution_id": "9b2d7c1e-0a4b-4c5d-8e6f-7a8b9c0d1e2f",
  "sequence": 4,
  "kind": {
    "type": "node_completed",
    "node_id": "think",
    "output": {"text": "hi"},
    "state_patch": {"answer": "hi"},
    "duration_ms": 812,
    "gen_ai_system": "anthropic",
    "input_tokens": 12,
    "provenance": null,
    "added_later": {"x": 1}
  },
  "created_at": "2026-06-29T12:00:00.123456789Z",
  "tenant_id": "default",
  "trace": [1, 2]
}"""


def test_an_event_written_by_the_original_with_unknown_fields_decodes() -> None:
    event = EVENT_DECODER.decode(ORIGINAL_EVENT)
    assert event.sequence == 4
    assert event.execution_id == "9b2d7c1e-0a4b-4c5d-8e6f-7a8b9c0d1e2f"
    assert event.created_at == datetime(2026, 6, 29, 12, 0, 0, 123457, tzinfo=UTC)
    kind = event.kind
    assert isinstance(kind, NodeCompleted)
    assert (kind.node_id, kind.duration_ms, kind.input_tokens) == ("think", 812, 12)
    assert kind.state_patch == {"answer": "hi"}


def test_the_head_decoder_reads_only_the_sequence() -> None:
    assert HEAD_DECODER.decode(ORIGINAL_EVENT).sequence == 4


def test_an_event_of_an_unknown_type_is_refused() -> None:
    data = ORIGINAL_EVENT.replace(b'"node_completed"', b'"node_teleported"')
    with pytest.raises(msgspec.ValidationError, match="node_teleported"):
        EVENT_DECODER.decode(data)
