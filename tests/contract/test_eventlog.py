"""EventLog: gapless, duplicate-free appends to an execution's log under contention (real nats-server)."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from jamjet_common.errors import AppendConflictError, RetryableError
from jamjet_common.eventlog import EMPTY, EventLog, Tail
from jamjet_common.events import Event, NodeScheduled, WorkflowStarted

T = "acme"
STARTED = WorkflowStarted(workflow_id="wf", workflow_version="1.0.0", initial_input={})


def scheduled(node_id: str) -> NodeScheduled:
    return NodeScheduled(node_id=node_id, queue_type="tool")


async def read_all(log: EventLog, execution_id: str, after: int = 0) -> list[tuple[Event, int]]:
    return [item async for item in log.read(T, execution_id, after_stream_seq=after)]


async def test_tail_of_an_empty_log_is_zero_zero(log: EventLog) -> None:
    assert await log.tail(T, "exec_none") == EMPTY == Tail(0, 0)
    assert await read_all(log, "exec_none") == []


async def test_appends_number_events_from_one(log: EventLog) -> None:
    first = await log.append(T, "exec_1", STARTED)
    second = await log.append(T, "exec_1", scheduled("a"))
    assert (first.event.sequence, second.event.sequence) == (1, 2)
    assert await log.tail(T, "exec_1") == second.tail
    assert second.tail.stream_seq > first.tail.stream_seq
    assert not first.duplicate


async def test_eight_concurrent_writers_give_a_gapless_log(nc: NATS, provisioned: JetStreamContext) -> None:
    writers = [EventLog(nc, provisioned) for _ in range(8)]

    async def write(index: int, log: EventLog) -> None:
        for n in range(50):
            await log.append(T, "exec_busy", scheduled(f"w{index}-{n}"))

    await asyncio.gather(*(write(i, w) for i, w in enumerate(writers)))
    events = [event for event, _ in await read_all(writers[0], "exec_busy")]
    assert [e.sequence for e in events] == list(range(1, 401))
    assert len({e.id for e in events}) == 400
    assert {e.kind.node for e in events} == {f"w{i}-{n}" for i in range(8) for n in range(50)}
    assert (await writers[0].tail(T, "exec_busy")).sequence == 400


async def test_append_after_a_stale_tail_raises_a_conflict(log: EventLog) -> None:
    first = await log.append_after(T, "exec_1", STARTED, EMPTY)
    await log.append_after(T, "exec_1", scheduled("a"), first.tail)
    with pytest.raises(AppendConflictError) as caught:
        await log.append_after(T, "exec_1", scheduled("b"), first.tail)
    assert isinstance(caught.value, RetryableError) and caught.value.code == "append_conflict"
    with pytest.raises(AppendConflictError):
        await log.append_after(T, "exec_1", scheduled("c"), EMPTY)
    assert [e.sequence for e, _ in await read_all(log, "exec_1")] == [1, 2]


async def test_a_first_append_expecting_a_non_empty_log_conflicts(log: EventLog) -> None:
    with pytest.raises(AppendConflictError):
        await log.append_after(T, "exec_new", STARTED, Tail(3, 99))
    assert await log.tail(T, "exec_new") == EMPTY


async def test_a_duplicate_msg_id_adds_nothing(log: EventLog) -> None:
    first = await log.append(T, "exec_1", STARTED, msg_id="item-1:completed")
    again = await log.append(T, "exec_1", STARTED, msg_id="item-1:completed")
    assert (first.duplicate, again.duplicate) == (False, True)
    assert again.tail == first.tail
    assert again.event == first.event, "a duplicate reports the event the log holds"
    assert [e.id for e, _ in await read_all(log, "exec_1")] == [first.event.id]


async def test_the_log_stays_gapless_after_a_duplicate(log: EventLog) -> None:
    await log.append(T, "exec_1", STARTED, msg_id="m1")
    await log.append(T, "exec_1", STARTED, msg_id="m1")
    after = await log.append(T, "exec_1", scheduled("a"))
    assert after.event.sequence == 2
    assert [e.sequence for e, _ in await read_all(log, "exec_1")] == [1, 2]


async def test_a_duplicate_from_another_writer_with_a_stale_tail_adds_nothing(
    nc: NATS, provisioned: JetStreamContext
) -> None:
    one, two = EventLog(nc, provisioned), EventLog(nc, provisioned)
    await one.append(T, "exec_1", STARTED)
    await one.append(T, "exec_1", scheduled("a"), msg_id="m2")
    await one.append(T, "exec_1", scheduled("b"))
    again = await two.append(T, "exec_1", scheduled("a"), msg_id="m2")
    assert again.duplicate
    assert [e.sequence for e, _ in await read_all(one, "exec_1")] == [1, 2, 3]
    assert (await two.append(T, "exec_1", scheduled("c"))).event.sequence == 4


async def test_read_resumes_after_a_stream_sequence(log: EventLog) -> None:
    for n in range(3):
        await log.append(T, "exec_a", scheduled(f"a{n}"))
        await log.append(T, "exec_b", scheduled(f"b{n}"))  # interleaved: stream seqs have gaps for exec_a
    everything = await read_all(log, "exec_a")
    assert [e.kind.node for e, _ in everything] == ["a0", "a1", "a2"]
    _, second_seq = everything[1]
    resumed = await read_all(log, "exec_a", after=second_seq)
    assert resumed == everything[2:]
    assert await read_all(log, "exec_a", after=everything[-1][1]) == []


async def test_a_stale_hint_still_appends_at_the_real_tail(log: EventLog, nc: NATS) -> None:
    first = await log.append(T, "exec_1", STARTED)
    for n in range(3):
        await log.append(T, "exec_1", scheduled(f"n{n}"))
    fresh = EventLog(nc, log._js)
    fresh.hint("exec_1", first.tail)
    appended = await fresh.append(T, "exec_1", scheduled("late"))
    assert appended.event.sequence == 5
    assert [e.sequence for e, _ in await read_all(log, "exec_1")] == [1, 2, 3, 4, 5]


async def test_a_hint_older_than_what_is_known_is_ignored(log: EventLog) -> None:
    await log.append(T, "exec_1", STARTED)
    current = (await log.append(T, "exec_1", scheduled("a"))).tail
    log.hint("exec_1", Tail(1, 1))
    assert log._tails["exec_1"] == current


async def test_tenants_of_finds_every_tenant_holding_an_execution_id(log: EventLog) -> None:
    await log.append("acme", "exec_x", STARTED)
    await log.append("beta", "exec_x", STARTED)
    await log.append("acme", "exec_xy", STARTED)
    assert await log.tenants_of("exec_x") == {"acme", "beta"}
    assert await log.tenants_of("exec_xy") == {"acme"}
    assert await log.tenants_of("exec_unknown") == set()
