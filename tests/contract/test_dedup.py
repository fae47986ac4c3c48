"""Deduplication ids: spelled once, the same for worker and scheduler."""

from __future__ import annotations

import msgspec

from jamjet_common.dedup import DispatchKeys, approval_timer_id, wait_timer_id, workflow_timer_id
from jamjet_common.ir import NodeDef
from jamjet_common.messages import WorkItem

KEYS = DispatchKeys("exec_1", 7)


def test_the_ids_of_a_dispatch_keep_their_wire_format() -> None:
    # Changing any of these breaks deduplication against ids already in a stream's duplicate window.
    assert (KEYS.work, KEYS.outcome, KEYS.dead_letter) == (
        "exec_1:7",
        "exec_1:7:outcome",
        "exec_1:7:dead",
    )
    assert (KEYS.started(0), KEYS.failed(2), KEYS.retry(3)) == (
        "exec_1:7:started:0",
        "exec_1:7:failed:2",
        "exec_1:7:retry:3",
    )
    assert (KEYS.violation, KEYS.approval, KEYS.escalation(1)) == (
        "exec_1:7:violation",
        "exec_1:7:approval",
        "exec_1:7:escalation:1",
    )
    assert (wait_timer_id("exec_1", 4), approval_timer_id("exec_1", 5), workflow_timer_id("exec_1")) == (
        "exec_1:wait:4",
        "exec_1:approval:5",
        "exec_1:workflow_timeout",
    )


def test_a_work_item_names_its_dispatch() -> None:
    node = msgspec.convert({"id": "a", "kind": {"type": "condition", "branches": []}}, NodeDef)
    item = WorkItem(
        execution_id="exec_1",
        tenant="acme",
        workflow_id="wf",
        workflow_version="1.0.0",
        node=node,
        dispatch=7,
        queue_type="general",
    )
    assert DispatchKeys.of(item) == KEYS
    assert item.item_id == KEYS.work
