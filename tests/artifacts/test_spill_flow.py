"""Large outputs through the running services: spilled once to the artifacts bucket, the sentinel
on the bus, the full output from ``jamjet.store.events``, and the artifact from
``jamjet.store.artifact``; small outputs and routing outputs inline."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats.js.object_store import ObjectStore

from jamjet_common.artifacts import canonical_json, content_hash, object_name
from jamjet_common.streams import OBJ_ARTIFACTS
from tests.artifacts.fns import big_output
from tests.e2e.stack import Stack, services
from tests.helpers import ask as runtime_request
from tests.scheduler.builders import cond, fn, workflow

pytestmark = pytest.mark.e2e

MODULE = "tests.artifacts.fns"
BIG = canonical_json(big_output())
SENTINEL = {"$artifact": {"hash": content_hash(BIG), "size": len(BIG), "media_type": "application/json"}}


def spilling_workflow() -> dict[str, Any]:
    """big (20 KiB) -> route (condition) -> small."""
    nodes = [
        fn("big", "big", MODULE),
        cond("route", [("state.rows", "small"), (None, "end")]),
        fn("small", "small", MODULE),
    ]
    edges = [("big", "route"), ("route", "small"), ("route", "end"), ("small", "end")]
    return workflow(nodes, edges, wf="spill")


def completed(events: list[dict[str, Any]], node_id: str) -> dict[str, Any]:
    return next(
        e["kind"] for e in events if e["kind"]["type"] == "node_completed" and e["kind"]["node_id"] == node_id
    )


async def ask(stack: Stack, subject: str, body: dict[str, Any]) -> dict[str, Any]:
    return await runtime_request(stack.nc, subject, body)


async def stored_events(stack: Stack, execution_id: str) -> list[dict[str, Any]]:
    answer = await ask(stack, "jamjet.store.events", {"execution_id": execution_id})
    assert answer["ok"], answer
    events: list[dict[str, Any]] = answer["events"]
    return events


async def bucket(stack: Stack) -> ObjectStore:
    return await stack.nc.jetstream().object_store(OBJ_ARTIFACTS)


@contextlib.asynccontextmanager
async def ran_twice(stack: Stack, **extra: str) -> AsyncIterator[list[str]]:
    """The services, after running the workflow twice and storing every event; still running."""
    async with services(stack, **extra):
        await stack.register(spilling_workflow())
        execution_ids = []
        for _ in range(2):  # one after the other: the second finds the artifact stored
            execution_ids.append(await stack.start("spill"))
            await stack.all_terminal(execution_ids)
        await stack.postgres_matches_stream(execution_ids)
        yield execution_ids


async def test_a_large_output_round_trips_through_the_artifacts_bucket(stack: Stack) -> None:
    assert 16 * 1024 < len(BIG) < 32 * 1024
    async with ran_twice(stack) as execution_ids:
        stored = [await stored_events(stack, execution_id) for execution_id in execution_ids]
        objects = [info.name for info in await (await bucket(stack)).list()]
        messages = (await stack.nc.jetstream().stream_info(f"OBJ_{OBJ_ARTIFACTS}")).state.messages
    for execution_id, events in zip(execution_ids, stored, strict=True):
        assert stack.recorder.terminal[execution_id] == "workflow_completed"
        on_bus = completed(stack.recorder.events[execution_id], "big")
        assert on_bus["output"] == SENTINEL
        assert on_bus["state_patch"] == big_output()  # the state patch stays inline
        assert completed(events, "big")["output"] == big_output()
    # One chunk, one meta, under the execution's tenant: written once.
    assert objects == [object_name("default", content_hash(BIG))] and messages == 2


async def test_routing_and_small_outputs_stay_inline(stack: Stack) -> None:
    async with ran_twice(stack) as (execution_id, _):
        stored = await stored_events(stack, execution_id)
    events = stack.recorder.events[execution_id]
    assert completed(events, "route")["output"] == {
        "chosen_target": "small",
        "branch_targets": ["small", "end"],
    }
    assert completed(events, "small")["output"] == {"small": True}
    assert completed(stored, "small")["output"] == {"small": True}


async def test_store_artifact_returns_the_json_and_rejects_unknown_and_bad_hashes(stack: Stack) -> None:
    async with ran_twice(stack):
        found = await ask(stack, "jamjet.store.artifact", {"hash": content_hash(BIG)})
        unknown = await ask(stack, "jamjet.store.artifact", {"hash": "0" * 64})
        bad = await ask(stack, "jamjet.store.artifact", {"hash": "not-a-hash"})
        malformed = await ask(stack, "jamjet.store.artifact", {"digest": content_hash(BIG)})
    assert found == {
        "ok": True,
        "hash": content_hash(BIG),
        "size": len(BIG),
        "media_type": "application/json",
        "value": big_output(),
    }
    assert unknown["ok"] is False and unknown["error"]["code"] == "unknown_artifact"
    assert bad["ok"] is False and bad["error"]["code"] == "invalid_hash"
    assert malformed["ok"] is False and malformed["error"]["code"] == "invalid_request"


async def test_a_missing_artifact_is_marked_unresolved_on_read(stack: Stack) -> None:
    async with ran_twice(stack) as (execution_id, _):
        await (await bucket(stack)).delete(object_name("default", content_hash(BIG)))
        output = completed(await stored_events(stack, execution_id), "big")["output"]
    assert output == {"$artifact": {**SENTINEL["$artifact"], "unresolved": True}}


async def test_the_threshold_is_configurable(stack: Stack) -> None:
    async with ran_twice(stack, JAMJET_ARTIFACT_THRESHOLD_BYTES=str(64 * 1024)) as (execution_id, _):
        stored = await stored_events(stack, execution_id)
    assert completed(stack.recorder.events[execution_id], "big")["output"] == big_output()
    assert completed(stored, "big")["output"] == big_output()
    info = await stack.nc.jetstream().stream_info(f"OBJ_{OBJ_ARTIFACTS}")
    assert info.state.messages == 0


async def test_without_the_bucket_a_large_output_that_fits_stays_inline(stack: Stack) -> None:
    async with services(stack):
        await stack.nc.jetstream().delete_object_store(OBJ_ARTIFACTS)
        await stack.register(spilling_workflow())
        execution_id = await stack.start("spill")
        await stack.all_terminal([execution_id])
    assert stack.recorder.terminal[execution_id] == "workflow_completed"
    assert completed(stack.recorder.events[execution_id], "big")["output"] == big_output()
