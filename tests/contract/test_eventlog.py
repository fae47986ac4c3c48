"""EventLog: gapless, duplicate-free appends to an execution's log under contention (real nats-server)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from jamjet_common import subjects
from jamjet_common.codec import ENCODER
from jamjet_common.dispatch_end import ends_dispatch
from jamjet_common.errors import AppendConflictError, RetryableError
from jamjet_common.eventlog import (
    EMPTY,
    EXPECTED_LAST_SUBJECT_SEQ,
    EXPECTED_LAST_SUBJECT_SEQ_SUBJECT,
    Appended,
    EventLog,
    Tail,
    appended_after,
    chain,
    new_event,
)
from jamjet_common.events import Event, EventKind, NodeCompleted, NodeScheduled, NodeStarted, WorkflowStarted
from jamjet_common.publisher import MSG_ID
from jamjet_common.seen import SeenEvents
from jamjet_common.streams import EVENTS
from tests.helpers import eventually

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


async def test_a_stale_remembered_tail_still_appends_at_the_real_tail(log: EventLog, nc: NATS) -> None:
    stale = EventLog(nc, log._js)
    await stale.append(T, "exec_1", STARTED)  # the tail it remembers
    for n in range(3):
        await log.append(T, "exec_1", scheduled(f"n{n}"))
    appended = await stale.append(T, "exec_1", scheduled("late"))
    assert appended.event.sequence == 5
    assert [e.sequence for e, _ in await read_all(log, "exec_1")] == [1, 2, 3, 4, 5]


async def test_a_first_append_fails_where_any_tenant_holds_the_execution_id(log: EventLog) -> None:
    first = await log.append_first("acme", "exec_x", STARTED)
    assert first.tail.sequence == 1
    with pytest.raises(AppendConflictError):
        await log.append_first("beta", "exec_x", STARTED)
    with pytest.raises(AppendConflictError):
        await log.append_first("acme", "exec_x", STARTED)
    assert [e async for e, _ in log.read("beta", "exec_x")] == []
    # A longer id sharing the prefix is another execution.
    assert (await log.append_first("beta", "exec_xy", STARTED)).tail.sequence == 1


async def test_two_tenants_racing_for_one_id_cannot_both_start_it(log: EventLog) -> None:
    tenants = [f"tenant{n}" for n in range(8)]
    results = await asyncio.gather(
        *(log.append_first(t, "exec_race", STARTED) for t in tenants), return_exceptions=True
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, AppendConflictError) for r in results if isinstance(r, BaseException))


async def test_a_first_append_anchors_the_chain_a_writer_walks_back(
    log: EventLog, provisioned: JetStreamContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    await log.append_first(T, "exec_anchor", STARTED)
    tail = (await log.append(T, "exec_anchor", scheduled("a"))).tail
    reads = count_reads(provisioned, monkeypatch)
    assert await log.tail(T, "exec_anchor", trusted=EMPTY) == tail
    assert reads[0] == 2  # the last message and the first: no count of the whole log


# ---- a forged chain of conditional appends (issue 9) --------------------------------------------------


async def forge(js: JetStreamContext, execution_id: str, sequence: int, after: int | None) -> int:
    """Store an event with ``sequence``, conditionally after stream sequence ``after`` (None: plainly),
    as a compromised service inside the service account could; its stream sequence."""
    body = ENCODER.encode(new_event(execution_id, sequence, scheduled("forged")))
    headers = None if after is None else {EXPECTED_LAST_SUBJECT_SEQ: str(after)}
    ack = await js.publish(subjects.append(T, execution_id), body, headers=headers)
    return ack.seq


async def accepted(log: EventLog, execution_id: str) -> list[str]:
    """The ids of the events readers accept, folded as they fold: each the last accepted + 1."""
    ids: list[str] = []
    for event, _ in await read_all(log, execution_id):
        if event.sequence == len(ids) + 1:
            ids.append(event.id)
    return ids


async def three_events(log: EventLog, execution_id: str) -> Tail:
    for kind in (STARTED, scheduled("a"), scheduled("b")):
        tail = (await log.append(T, execution_id, kind)).tail
    return tail


async def forged_chain(js: JetStreamContext, execution_id: str, after: Tail) -> int:
    """k+5 conditionally after the true tail k, then k+6 after it; the stream sequence of the last."""
    first = await forge(js, execution_id, after.sequence + 5, after.stream_seq)
    return await forge(js, execution_id, after.sequence + 6, first)


def count_reads(js: JetStreamContext, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the context's ``get_msg`` calls (the reads of the log); the real calls still run."""
    reads = [0]
    real = js.get_msg

    async def counted(*args: Any, **kwargs: Any) -> Any:
        reads[0] += 1
        return await real(*args, **kwargs)

    monkeypatch.setattr(js, "get_msg", counted)
    return reads


async def test_a_forged_chain_does_not_move_a_writers_tail(
    log: EventLog, provisioned: JetStreamContext
) -> None:
    mine = await three_events(log, "exec_f")
    last = await forged_chain(provisioned, "exec_f", mine)
    assert await log.tail(T, "exec_f", trusted=mine) == Tail(3, last)
    appended = await log.append(T, "exec_f", scheduled("true"))
    assert appended.event.sequence == 4
    assert (await accepted(log, "exec_f"))[-1] == appended.event.id


async def test_a_cold_writer_counts_the_log_past_a_forged_chain(
    log: EventLog, nc: NATS, provisioned: JetStreamContext
) -> None:
    last = await forged_chain(provisioned, "exec_f", await three_events(log, "exec_f"))
    cold = EventLog(nc, provisioned)
    assert await cold.tail(T, "exec_f") == Tail(3, last)
    appended = await cold.append(T, "exec_f", scheduled("true"))
    assert (await accepted(log, "exec_f"))[-1] == appended.event.id


@pytest.mark.parametrize("others", [1, 2, 3])
async def test_the_walk_back_reads_one_message_per_append_since_the_trusted_tail(
    log: EventLog, nc: NATS, provisioned: JetStreamContext, monkeypatch: pytest.MonkeyPatch, others: int
) -> None:
    mine = await three_events(log, "exec_w")
    other = EventLog(nc, provisioned)
    for n in range(others):
        theirs = (await other.append(T, "exec_w", scheduled(f"o{n}"))).tail
    reads = count_reads(provisioned, monkeypatch)
    assert await log.tail(T, "exec_w", trusted=mine) == theirs
    assert reads[0] == others


async def test_a_message_appended_unconditionally_makes_the_writer_count_the_log(
    log: EventLog, provisioned: JetStreamContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In sequence, so readers accept it, but the walk cannot prove what lies before it."""
    mine = await three_events(log, "exec_p")
    plain = await forge(provisioned, "exec_p", 4, None)
    reads = count_reads(provisioned, monkeypatch)
    assert await log.tail(T, "exec_p", trusted=mine) == Tail(4, plain)
    assert reads[0] == 1 + 4 + 1  # the last message, then every message and the end of the log


async def test_a_chain_whose_sequences_break_off_is_not_trusted(
    log: EventLog, nc: NATS, provisioned: JetStreamContext
) -> None:
    """A true 4 after the writer's 3, then a forged 9 and 10 chained after it: the log is at 4."""
    mine = await three_events(log, "exec_s")
    theirs = (await EventLog(nc, provisioned).append(T, "exec_s", scheduled("o"))).tail
    last = await forge(provisioned, "exec_s", 10, await forge(provisioned, "exec_s", 9, theirs.stream_seq))
    assert await log.tail(T, "exec_s", trusted=mine) == Tail(4, last)


async def test_the_last_message_being_the_trusted_one_needs_no_more_reads(
    log: EventLog, provisioned: JetStreamContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = await three_events(log, "exec_t")
    reads = count_reads(provisioned, monkeypatch)
    assert await log.tail(T, "exec_t", trusted=mine) == mine
    assert reads[0] == 1


def test_a_condition_checked_on_another_subject_proves_nothing_about_this_one() -> None:
    mine = "jamjet.events.acme.exec_1"
    assert appended_after(mine, {EXPECTED_LAST_SUBJECT_SEQ: "7"}) == 7
    other = {EXPECTED_LAST_SUBJECT_SEQ: "7", EXPECTED_LAST_SUBJECT_SEQ_SUBJECT: "jamjet.x"}
    assert appended_after(mine, other) is None
    assert appended_after(mine, {EXPECTED_LAST_SUBJECT_SEQ: "-1"}) is None
    assert appended_after(mine, None) is None


def test_only_a_first_events_check_across_tenants_anchors_this_subject() -> None:
    mine = "jamjet.events.acme.exec_1"
    across = {EXPECTED_LAST_SUBJECT_SEQ: "0", EXPECTED_LAST_SUBJECT_SEQ_SUBJECT: "jamjet.events.*.exec_1"}
    assert appended_after(mine, across) == 0
    # The same check of another id, or any later position, says nothing about this log.
    elsewhere = {**across, EXPECTED_LAST_SUBJECT_SEQ_SUBJECT: "jamjet.events.*.exec_2"}
    assert appended_after(mine, elsewhere) is None
    assert appended_after(mine, {**across, EXPECTED_LAST_SUBJECT_SEQ: "5"}) is None
    assert appended_after("not.an.events.subject.at.all", across) is None


# ---- append_unless: a dispatch's outcome, arbitrated by the log itself ----------------------------------


def completed(node_id: str, by: str = "w") -> NodeCompleted:
    return NodeCompleted(node_id=node_id, output={"by": by})


async def dispatched(log: EventLog, execution_id: str, node_id: str = "a") -> Tail:
    await log.append(T, execution_id, STARTED)
    return (await log.append(T, execution_id, scheduled(node_id))).tail


async def test_an_outcome_lands_at_once_when_nothing_was_appended_since(log: EventLog) -> None:
    clear = await dispatched(log, "exec_u1")
    appended = await log.append_unless(T, "exec_u1", completed("a"), clear=clear, ended=ends_dispatch("a"))
    assert isinstance(appended, Appended)
    assert appended.event.sequence == 3


async def test_an_outcome_follows_other_nodes_events_appended_since(nc: NATS, log: EventLog) -> None:
    clear = await dispatched(log, "exec_u2")
    other = EventLog(nc, log._js)
    await other.append(T, "exec_u2", completed("b"))
    await other.append(T, "exec_u2", NodeStarted(node_id="a", worker_id="w", attempt=0))
    appended = await log.append_unless(T, "exec_u2", completed("a"), clear=clear, ended=ends_dispatch("a"))
    assert isinstance(appended, Appended)
    assert [e.sequence for e, _ in await read_all(log, "exec_u2")] == [1, 2, 3, 4, 5]


async def test_an_outcome_recorded_since_is_returned_and_nothing_is_appended(nc: NATS, log: EventLog) -> None:
    clear = await dispatched(log, "exec_u3")
    first = await EventLog(nc, log._js).append(T, "exec_u3", completed("a", by="first"))
    found = await log.append_unless(
        T, "exec_u3", completed("a", by="late"), clear=clear, ended=ends_dispatch("a")
    )
    assert found == first.event
    assert len(await read_all(log, "exec_u3")) == 3


async def test_a_second_node_scheduled_of_the_node_ends_nothing(nc: NATS, log: EventLog) -> None:
    # The scheduler refuses it while the dispatch is in flight: it may be a forgery.
    clear = await dispatched(log, "exec_u4")
    await EventLog(nc, log._js).append(T, "exec_u4", scheduled("a"))
    appended = await log.append_unless(T, "exec_u4", completed("a"), clear=clear, ended=ends_dispatch("a"))
    assert isinstance(appended, Appended)
    assert appended.event.sequence == 4


async def test_eight_writers_racing_one_dispatch_record_one_outcome(
    nc: NATS, provisioned: JetStreamContext
) -> None:
    writers = [EventLog(nc, provisioned) for _ in range(8)]
    clear = await dispatched(writers[0], "exec_u5")
    results = await asyncio.gather(
        *(
            w.append_unless(T, "exec_u5", completed("a", by=str(n)), clear=clear, ended=ends_dispatch("a"))
            for n, w in enumerate(writers)
        )
    )
    landed = [r for r in results if isinstance(r, Appended)]
    assert len(landed) == 1
    assert all(r == landed[0].event for r in results if isinstance(r, Event))
    outcomes = [e for e, _ in await read_all(writers[0], "exec_u5") if isinstance(e.kind, NodeCompleted)]
    assert outcomes == [landed[0].event]


async def test_an_outcome_steps_over_a_refused_message_and_keeps_the_true_sequence(
    log: EventLog, provisioned: JetStreamContext
) -> None:
    clear = await dispatched(log, "exec_u6")
    # A forged NodeCompleted with a sequence ahead of the log: readers refuse it, so it ends nothing.
    forged = new_event("exec_u6", 9, completed("a", by="forger"))
    await provisioned.publish(subjects.append(T, "exec_u6"), ENCODER.encode(forged))
    appended = await log.append_unless(T, "exec_u6", completed("a"), clear=clear, ended=ends_dispatch("a"))
    assert isinstance(appended, Appended)
    assert appended.event.sequence == 3
    assert [e.sequence for e, _ in await read_all(log, "exec_u6")] == [1, 2, 9, 3]


async def test_what_a_writer_has_seen_is_not_read_again(
    nc: NATS, log: EventLog, provisioned: JetStreamContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two dispatches of one execution, as a worker running both sees them: the second start reads
    # nothing, since the first one's lost race read what the scheduler appended after both schedules.
    scheduler = EventLog(nc, provisioned)
    await scheduler.append(T, "exec_u7", STARTED)
    first = (await scheduler.append(T, "exec_u7", scheduled("a"))).tail
    second = (await scheduler.append(T, "exec_u7", scheduled("b"))).tail
    reads = count_reads(provisioned, monkeypatch)
    started_a = NodeStarted(node_id="a", worker_id="w", attempt=0)
    assert isinstance(
        await log.append_unless(T, "exec_u7", started_a, clear=first, ended=ends_dispatch("a")), Appended
    )
    assert reads[0] == 2  # the schedule of b, then the end of the log
    started_b = NodeStarted(node_id="b", worker_id="w", attempt=0)
    appended = await log.append_unless(T, "exec_u7", started_b, clear=second, ended=ends_dispatch("b"))
    assert isinstance(appended, Appended) and appended.event.sequence == 5
    assert reads[0] == 2


async def test_an_end_seen_without_its_payload_is_read_whole(nc: NATS, log: EventLog) -> None:
    clear = await dispatched(log, "exec_u8")
    done = await log.append(T, "exec_u8", NodeCompleted(node_id="a", output={"big": "x" * 100}))
    found = await log.append_unless(T, "exec_u8", completed("a"), clear=clear, ended=ends_dispatch("a"))
    assert found == done.event


def test_a_run_of_seen_events_starts_again_where_it_does_not_continue() -> None:
    seen = SeenEvents(per_execution=2)
    seen.saw("e", Tail(1, 10), Tail(2, 11), scheduled("a"))
    seen.saw("e", Tail(2, 11), Tail(2, 12), None)  # a refused message: it takes no place
    seen.saw("e", Tail(2, 12), Tail(3, 13), scheduled("b"))
    assert seen.since("e", Tail(1, 10)) == (
        Tail(3, 13),
        [(Tail(2, 11), scheduled("a")), (Tail(3, 13), scheduled("b"))],
    )
    seen.saw("e", Tail(3, 13), Tail(4, 14), scheduled("c"))  # at most two kept: the run now starts at 11
    assert seen.since("e", Tail(1, 10)) is None
    assert seen.since("e", Tail(3, 13)) == (Tail(4, 14), [(Tail(4, 14), scheduled("c"))])
    seen.saw("e", Tail(5, 20), Tail(6, 21), scheduled("d"))  # not after the run's end: a new run
    assert seen.since("e", Tail(3, 13)) is None
    assert seen.since("e", Tail(5, 20)) == (Tail(6, 21), [(Tail(6, 21), scheduled("d"))])


# ---- append_chain: links in one round trip, each only right behind the one before it ------------------


def pair(node_id: str) -> list[EventKind]:
    return [scheduled(node_id), NodeStarted(node_id=node_id, worker_id="inline:s", attempt=0)]


async def test_a_chained_pair_lands_in_sequence_right_behind_each_other(log: EventLog, nc: NATS) -> None:
    await log.allow_chaining()
    first = await log.append(T, "exec_c1", STARTED)
    assert log.chains(first.tail)
    head, then = await log.append_chain(
        T, "exec_c1", chain("exec_c1", first.tail, pair("a"), last_msg_id="exec_c1:2:started:0"), first.tail
    )
    assert (head.event.sequence, then.event.sequence) == (2, 3)
    assert then.tail.stream_seq == head.tail.stream_seq + 1 == first.tail.stream_seq + 2
    assert [e.sequence for e, _ in await read_all(log, "exec_c1")] == [1, 2, 3]
    stored = await log._js.get_msg(EVENTS, seq=then.tail.stream_seq)
    assert stored.headers is not None and stored.headers[MSG_ID] == "exec_c1:2:started:0"
    assert await log.tail(T, "exec_c1", trusted=then.tail) == then.tail


async def test_a_pair_whose_first_loses_the_race_lands_nothing(log: EventLog, nc: NATS) -> None:
    await log.allow_chaining()
    first = await log.append(T, "exec_c2", STARTED)
    # Another writer's event sits exactly where the pair's first would: the second's position and
    # sequence checks pass, and only the last message id tells it apart.
    await EventLog(nc, log._js).append_after(T, "exec_c2", scheduled("x"), first.tail)
    with pytest.raises(AppendConflictError):
        await log.append_chain(T, "exec_c2", chain("exec_c2", first.tail, pair("a")), first.tail)
    assert [e.kind for e, _ in await read_all(log, "exec_c2")] == [STARTED, scheduled("x")]


async def test_a_write_elsewhere_before_the_pair_leaves_the_second_to_the_caller(
    log: EventLog, nc: NATS
) -> None:
    await log.allow_chaining()
    first = await log.append(T, "exec_c3", STARTED)
    await EventLog(nc, log._js).append(T, "exec_c3_other", STARTED)  # the stream moves on elsewhere
    landed = await log.append_chain(T, "exec_c3", chain("exec_c3", first.tail, pair("a")), first.tail)
    assert len(landed) == 1
    head = landed[0]
    assert [e.sequence for e, _ in await read_all(log, "exec_c3")] == [1, 2]
    assert head.tail == await log.tail(T, "exec_c3", trusted=head.tail)


async def test_only_a_chains_last_link_asks_for_the_streams_ack(log: EventLog, nc: NATS) -> None:
    await log.allow_chaining()
    first = await log.append(T, "exec_c6", STARTED)
    sent: list[Msg] = []

    async def seen(msg: Msg) -> None:
        sent.append(msg)

    sub = await nc.subscribe(subjects.append(T, "exec_c6"), cb=seen)
    landed = await log.append_chain(
        T, "exec_c6", chain("exec_c6", first.tail, [completed("z"), *pair("a")]), first.tail
    )
    await eventually(lambda: len(sent) == 3, message="the links were not seen on the append subject")
    await sub.unsubscribe()
    assert [bool(msg.reply) for msg in sent] == [False, False, True]
    assert [a.tail.stream_seq for a in landed] == [first.tail.stream_seq + n for n in (1, 2, 3)]


async def test_an_executions_first_events_chain_right_behind_the_streams_last(log: EventLog) -> None:
    await log.allow_chaining()
    await log.append(T, "exec_s0", STARTED)
    behind = log.quiet_position()
    assert behind is not None
    landed = await log.append_chain(
        T, "exec_s1", chain("exec_s1", EMPTY, [STARTED, *pair("a")]), EMPTY, behind=behind
    )
    assert [a.tail for a in landed] == [Tail(n, behind + n) for n in (1, 2, 3)]
    assert [e.kind for e, _ in await read_all(log, "exec_s1")] == [STARTED, *pair("a")]


async def test_a_start_turned_away_by_the_gate_uses_up_no_try_of_its_backoff(log: EventLog) -> None:
    await log.allow_chaining()
    first = await log.append(T, "exec_s4", STARTED)
    log._gate.landed(whole=False)  # a refused chain: the next try is skipped
    assert log.quiet_position() is None and log.quiet_position() is None
    assert not log.chains(first.tail), "the skipped try is the next chain's, not a start's"
    assert log.quiet_position() == first.tail.stream_seq and log.chains(first.tail)


async def test_a_first_chain_for_an_id_another_tenant_holds_lands_nothing(log: EventLog) -> None:
    await log.allow_chaining()
    await log.append_first("globex", "exec_s2", STARTED)
    behind = log.quiet_position()
    assert behind is not None
    with pytest.raises(AppendConflictError):
        await log.append_chain(
            T, "exec_s2", chain("exec_s2", EMPTY, [STARTED, *pair("a")]), EMPTY, behind=behind
        )
    assert await read_all(log, "exec_s2") == []


async def test_a_first_chain_behind_a_stale_position_lands_its_head_alone(log: EventLog, nc: NATS) -> None:
    await log.allow_chaining()
    await log.append(T, "exec_s3_before", STARTED)
    behind = log.quiet_position()
    assert behind is not None
    await EventLog(nc, log._js).append(T, "exec_s3_other", STARTED)  # the stream moves on elsewhere
    landed = await log.append_chain(
        T, "exec_s3", chain("exec_s3", EMPTY, [STARTED, *pair("a")]), EMPTY, behind=behind
    )
    assert [a.event.sequence for a in landed] == [1]
    assert landed[0].tail.stream_seq == behind + 2
    assert [e.sequence for e, _ in await read_all(log, "exec_s3")] == [1]


async def test_a_writer_chains_only_on_a_stream_that_looks_quiet(log: EventLog) -> None:
    first = await log.append(T, "exec_c4", STARTED)
    assert not log.chains(first.tail), "not before allow_chaining"
    await log.allow_chaining()
    assert log.chains(first.tail)
    later = await log.append(T, "exec_c4_other", STARTED)
    assert not log.chains(first.tail) and log.chains(later.tail)


async def test_a_chain_of_three_lands_whole_and_its_events_must_follow_the_tail(log: EventLog) -> None:
    await log.allow_chaining()
    first = await log.append(T, "exec_c5", STARTED)
    kinds = [completed("z"), *pair("a")]
    landed = await log.append_chain(T, "exec_c5", chain("exec_c5", first.tail, kinds), first.tail)
    assert [a.event.sequence for a in landed] == [2, 3, 4]
    assert [a.tail.stream_seq for a in landed] == [first.tail.stream_seq + n for n in (1, 2, 3)]
    assert [e.kind for e, _ in await read_all(log, "exec_c5")] == [STARTED, *kinds]
    with pytest.raises(ValueError, match="must follow"):
        await log.append_chain(T, "exec_c5", chain("exec_c5", first.tail, kinds), landed[-1].tail)


async def test_the_tenant_holding_an_ids_log_is_found_whichever_it_is(log: EventLog) -> None:
    assert await log.holder("exec_nowhere") is None
    await log.append_first("globex", "exec_somewhere", STARTED)
    assert await log.holder("exec_somewhere") == "globex"
    assert await log.holder("exec_somewhere_else") is None
