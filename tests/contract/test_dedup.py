"""Deduplication ids and the outcome claim: spelled once, the same for worker and scheduler (real KV)."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from nats.js import JetStreamContext

from jamjet_common import streams
from jamjet_common.claims import OutcomeClaims
from jamjet_common.codec import ENCODER
from jamjet_common.dedup import DispatchKeys, approval_timer_id, wait_timer_id, workflow_timer_id
from jamjet_common.events import NodeCancelled, NodeCompleted, NodeFailed
from jamjet_common.ir import NodeDef
from jamjet_common.messages import WorkItem

KEYS = DispatchKeys("exec_1", 7)


def test_the_ids_of_a_dispatch_keep_their_wire_format() -> None:
    # Changing any of these breaks deduplication against ids already in a stream's duplicate window.
    assert (KEYS.work, KEYS.claim, KEYS.outcome, KEYS.dead_letter) == (
        "exec_1:7",
        "exec_1.7",
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


@pytest.fixture
async def claims(provisioned: JetStreamContext) -> OutcomeClaims:
    return OutcomeClaims(await provisioned.key_value(streams.KV_OUTCOMES))


async def test_the_first_claim_wins_and_every_later_one_learns_the_outcome(claims: OutcomeClaims) -> None:
    completed = NodeCompleted(node_id="a", output={"x": 1})
    cancelled = NodeCancelled(node_id="a")
    assert await claims.claimed(KEYS) is None
    assert await claims.claim(KEYS, completed) is None
    assert await claims.claim(KEYS, cancelled) == completed
    assert await claims.claimed(KEYS) == completed
    assert await claims.claimed(DispatchKeys("exec_1", 8)) is None


async def test_racing_claimants_agree_on_one_outcome(claims: OutcomeClaims) -> None:
    outcomes = [NodeFailed(node_id="a", error=f"e{n}", attempt=0, retryable=False) for n in range(8)]
    results = await asyncio.gather(*(claims.claim(KEYS, outcome) for outcome in outcomes))
    winners = [outcome for outcome, result in zip(outcomes, results, strict=True) if result is None]
    assert len(winners) == 1
    assert all(result in (None, winners[0]) for result in results)


async def test_the_claim_is_stored_under_its_documented_key(
    claims: OutcomeClaims, provisioned: JetStreamContext
) -> None:
    await claims.claim(KEYS, NodeCancelled(node_id="a"))
    kv = await provisioned.key_value(streams.KV_OUTCOMES)
    entry = await kv.get("exec_1.7")
    assert entry.value == ENCODER.encode(NodeCancelled(node_id="a"))
