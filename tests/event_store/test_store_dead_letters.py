"""Dead letters on JAMJET_DLQ reach the dead_letters table once each, whatever they hold, and page back."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import msgspec
from nats.aio.client import Client as NATS
from nats.js.api import PubAck

from jamjet_common import streams, subjects
from jamjet_common.codec import encode
from jamjet_common.deadletter import DecodeDeadLetter
from jamjet_common.ir import NodeDef
from jamjet_common.messages import WorkDeadLetter, WorkItem
from jamjet_common.subjects import new_execution_id
from services.event_store.dlq_intake import DLQ_CONSUMER, storable_json
from services.event_store.service import EventStoreService
from tests.event_store.conftest import ask, build_store
from tests.harness import running
from tests.helpers import eventually

NODE = msgspec.convert({"id": "step", "kind": {"type": "python_fn", "module": "m", "function": "f"}}, NodeDef)


def work_letter(
    execution_id: str, *, tenant: str = "acme", dispatch: int = 2, last_error: str = "boom"
) -> WorkDeadLetter:
    item = WorkItem(
        execution_id=execution_id,
        tenant=tenant,
        workflow_id="wf",
        workflow_version="1.0.0",
        node=NODE,
        dispatch=dispatch,
        queue_type="general",
        state={"n": dispatch},
    )
    return WorkDeadLetter(
        item=item,
        attempts=3,
        last_error=last_error,
        worker_id="worker-1",
        dead_lettered_at=datetime.now(UTC),
    )


async def publish_work(nc: NATS, letter: WorkDeadLetter) -> PubAck:
    msg_id = f"{letter.item.execution_id}:{letter.item.dispatch}:dead"
    return await nc.jetstream().publish(
        subjects.dlq_work("general"), encode(letter), headers={"Nats-Msg-Id": msg_id}
    )


async def rows_by_seq(pg: asyncpg.Connection, count: int) -> dict[int, asyncpg.Record]:
    async def check() -> list[asyncpg.Record] | None:
        rows = await pg.fetch("SELECT * FROM dead_letters ORDER BY stream_seq")
        return rows if len(rows) >= count else None

    rows = await eventually(check, message=f"fewer than {count} dead letters were stored")
    assert len(rows) == count
    return {r["stream_seq"]: r for r in rows}


async def consumer_done(nc: NATS, last_seq: int) -> bool:
    info = await nc.jetstream().consumer_info(streams.DLQ, DLQ_CONSUMER)
    return bool(info.num_pending == 0 and info.num_ack_pending == 0 and info.delivered.stream_seq >= last_seq)


async def test_work_dead_letters_land_once_each_even_on_duplicates_and_replay(
    nc: NATS, nats_url: str, database_url: str, pg: asyncpg.Connection
) -> None:
    letters = [work_letter(new_execution_id(), dispatch=d) for d in (2, 5, 9)]
    async with running(build_store(nats_url, database_url, JAMJET_STORE_BATCH="2")) as service:
        await eventually(service.db.ready.is_set)
        acks = [await publish_work(nc, letter) for letter in letters]
        again = await publish_work(nc, letters[0])
        assert again.duplicate and again.seq == acks[0].seq
        rows = await rows_by_seq(pg, 3)
        await eventually(lambda: consumer_done(nc, acks[-1].seq), message="the DLQ was never acked")
    assert sorted(rows) == [a.seq for a in acks]
    row = rows[acks[1].seq]
    assert (row["kind"], row["tenant"], row["execution_id"]) == ("work", "acme", letters[1].item.execution_id)
    assert (row["node_id"], row["dispatch"], row["queue_type"]) == ("step", 5, "general")
    assert (row["attempts"], row["last_error"]) == (3, "boom")
    assert json.loads(row["payload"]) == msgspec.to_builtins(letters[1])
    assert abs(row["created_at"] - datetime.now(UTC)) < timedelta(minutes=1)

    before = [dict(r) for r in await pg.fetch("SELECT * FROM dead_letters ORDER BY stream_seq")]
    await nc.jetstream().delete_consumer(streams.DLQ, DLQ_CONSUMER)
    async with running(build_store(nats_url, database_url)):
        await eventually(lambda: consumer_done(nc, acks[-1].seq), message="the replay never finished")
    after = [dict(r) for r in await pg.fetch("SELECT * FROM dead_letters ORDER BY stream_seq")]
    assert after == before


def decode_record(subject: str, error: Any, payload: str = "x") -> bytes:
    """A decode dead letter in the event store's own shape."""
    return encode({"subject": subject, "stream": "S", "stream_seq": 4, "error": error, "payload": payload})


async def test_decode_records_and_garbage_are_stored_without_blocking(
    nc: NATS, pg: asyncpg.Connection, store: EventStoreService
) -> None:
    js = nc.jetstream()
    execution_id = new_execution_id()
    deep = b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    from_store = decode_record(f"jamjet.events.acme.{execution_id}", {"code": "c", "message": "m"}, "a\x00b")
    from_worker = DecodeDeadLetter(
        subject="jamjet.work.gpu", stream_seq=7, error="bad item", payload="{", service="worker"
    )
    work = subjects.dlq_work("general")
    published = [
        (work, b"\xff{not json"),
        (subjects.DLQ_DECODE, from_store),
        (subjects.DLQ_DECODE, encode(from_worker)),
        (work, encode(work_letter(execution_id, last_error="nul\x00here"))),
        (work, b'{"attempts": 3}'),
        ("jamjet.dlq.other", b'{"what": "ever"}'),
        (subjects.DLQ_DECODE, deep),
        (subjects.DLQ_DECODE, b"[1, 2]"),
        (work, encode(work_letter(execution_id, dispatch=8))),
    ]
    seqs = [(await js.publish(subject, data)).seq for subject, data in published]
    rows = [r for _, r in sorted((await rows_by_seq(pg, len(published))).items())]
    assert [r["stream_seq"] for r in rows] == seqs
    assert [r["kind"] for r in rows] == ["decode"] * 3 + ["work"] + ["decode"] * 4 + ["work"]

    garbage = json.loads(rows[0]["payload"])
    assert garbage["payload"] == "\\xff{not json" and garbage["consumer"] == DLQ_CONSUMER
    assert garbage["subject"] == "jamjet.dlq.work.general" and garbage["stream_seq"] == seqs[0]
    assert rows[0]["last_error"].startswith("malformed_json: ") and rows[0]["queue_type"] == "general"

    assert (rows[1]["tenant"], rows[1]["execution_id"], rows[1]["last_error"]) == (
        "acme",
        execution_id,
        "c: m",
    )
    assert json.loads(rows[1]["payload"])["payload"] == "a\\u0000b"  # jsonb cannot hold NUL
    assert (rows[2]["queue_type"], rows[2]["last_error"], rows[2]["tenant"]) == ("gpu", "bad item", None)
    assert json.loads(rows[2]["payload"])["service"] == "worker"
    assert rows[3]["last_error"] == "nul\\u0000here" and rows[3]["execution_id"] == execution_id
    assert rows[4]["last_error"].startswith("invalid_request: ")
    assert json.loads(rows[4]["payload"])["payload"] == '{"attempts": 3}'
    assert rows[5]["last_error"].startswith("unknown_dead_letter: ")
    assert rows[6]["last_error"].startswith("malformed_json: ")
    assert rows[7]["last_error"].startswith("invalid_request: ")
    assert rows[8]["dispatch"] == 8
    # Nothing was dead-lettered again: the stream holds exactly what was published, all acknowledged.
    await eventually(lambda: consumer_done(nc, seqs[-1]), message="the DLQ consumer is stuck")
    assert (await js.stream_info(streams.DLQ)).state.messages == len(published)


async def test_an_event_the_store_cannot_decode_becomes_a_queryable_dead_letter(
    nc: NATS, pg: asyncpg.Connection, store: EventStoreService
) -> None:
    execution_id = new_execution_id()
    # Invalid UTF-8 inside a JSON string: the decoder must report it, not crash the consumer.
    await nc.jetstream().publish(subjects.append("acme", execution_id), b'{"id": "\xff"}')

    async def listed() -> dict[str, Any] | None:
        reply = await ask(nc, "dead_letters", {"execution_id": execution_id})
        return reply if reply["ok"] and reply["dead_letters"] else None

    reply = await eventually(listed, message="the undecodable event never reached dead_letters")
    [letter] = reply["dead_letters"]
    assert (letter["kind"], letter["tenant"]) == ("decode", "acme")
    assert letter["last_error"].startswith("malformed_json: ")
    assert letter["record"]["subject"] == subjects.events("acme", execution_id)
    assert letter["record"]["consumer"] == streams.EVENT_STORE_CONSUMER


async def test_dead_letters_query_filters_and_pages_newest_first(
    nc: NATS, pg: asyncpg.Connection, store: EventStoreService
) -> None:
    js = nc.jetstream()
    first, second = new_execution_id(), new_execution_id()
    letters = [work_letter(first, tenant="t1", dispatch=d) for d in range(2, 27)]
    work_seqs = [(await publish_work(nc, letter)).seq for letter in letters]
    other = (await publish_work(nc, work_letter(second, tenant="t2"))).seq
    decode_seqs = [(await js.publish(subjects.DLQ_DECODE, decode_record("s", "e"))).seq for _ in range(2)]
    # A record too large to travel with the rest of its reply comes back without it.
    huge = decode_record("s", "too big", "x" * (nc.max_payload - 400))
    huge_seq = (await js.publish(subjects.DLQ_DECODE, huge)).seq
    # Records that fit a reply one by one but not together are cut into pages by size.
    big = decode_record(f"jamjet.events.big.{second}", "big", "x" * (nc.max_payload // 3))
    big_seqs = [(await js.publish(subjects.DLQ_DECODE, big)).seq for _ in range(3)]
    await rows_by_seq(pg, len(work_seqs) + 7)

    seen: list[dict[str, Any]] = []
    after, pages = None, 0
    while True:
        reply = await ask(nc, "dead_letters", {"execution_id": first, "limit": 10, "after": after})
        assert reply["ok"] is True
        seen += reply["dead_letters"]
        pages, after = pages + 1, reply["next"]
        if after is None:
            break
    assert pages == 3
    assert [d["stream_seq"] for d in seen] == list(reversed(work_seqs))
    assert [d["dispatch"] for d in seen] == list(range(26, 1, -1))
    assert set(seen[0]) == {
        "id", "stream_seq", "kind", "tenant", "execution_id", "node_id", "dispatch", "queue_type",
        "attempts", "last_error", "record", "created_at",
    }  # fmt: skip
    assert seen[0]["record"] == msgspec.to_builtins(letters[-1])
    assert datetime.fromisoformat(seen[0]["created_at"]).tzinfo is not None

    by_tenant = await ask(nc, "dead_letters", {"tenant": "t2"})
    assert [d["stream_seq"] for d in by_tenant["dead_letters"]] == [other] and by_tenant["next"] is None
    big_page = await ask(nc, "dead_letters", {"tenant": "big"})
    assert [d["stream_seq"] for d in big_page["dead_letters"]] == [big_seqs[2], big_seqs[1]]
    big_rest = await ask(nc, "dead_letters", {"tenant": "big", "after": big_page["next"]})
    assert [d["stream_seq"] for d in big_rest["dead_letters"]] == [big_seqs[0]] and big_rest["next"] is None
    assert big_rest["dead_letters"][0]["record"]["payload"] == "x" * (nc.max_payload // 3)

    decoded = await ask(nc, "dead_letters", {"kind": "decode", "after": big_page["next"]})
    assert [d["stream_seq"] for d in decoded["dead_letters"]] == [
        big_seqs[0],
        huge_seq,
        *reversed(decode_seqs),
    ]
    assert decoded["dead_letters"][1]["record"] is None and decoded["next"] is None
    assert decoded["dead_letters"][1]["last_error"] == "too big"
    assert decoded["dead_letters"][2]["record"]["error"] == "e"
    newest = await ask(nc, "dead_letters", {"limit": 2})
    assert [d["stream_seq"] for d in newest["dead_letters"]] == [big_seqs[2], big_seqs[1]]
    rest = await ask(nc, "dead_letters", {"limit": 1000, "after": newest["next"], "kind": "work"})
    assert [d["stream_seq"] for d in rest["dead_letters"]] == [other, *reversed(work_seqs)]
    none = await ask(nc, "dead_letters", {"execution_id": "nobody"})
    assert none == {"ok": True, "dead_letters": [], "next": None}


async def test_stored_json_never_holds_a_nul_escape(pg: asyncpg.Connection) -> None:
    cases = {
        b'{"a": "x\\u0000y"}': {"a": "x\\u0000y"},
        b'{"k\\u0000": "\\\\u0000"}': {"k\\u0000": "\\u0000"},
        b'["\\\\\\u0000", "\\\\\\\\u0000"]': ["\\\\u0000", "\\\\u0000"],
        b'"\\u0000\\u0000"': "\\u0000\\u0000",
    }
    for raw, expected in cases.items():
        stored = await pg.fetchval("SELECT $1::jsonb::text", storable_json(raw))
        assert json.loads(stored) == expected, raw


async def test_a_dead_letter_postgres_refuses_is_not_dead_lettered_again(
    nc: NATS, pg: asyncpg.Connection, store: EventStoreService
) -> None:
    await pg.execute(
        "ALTER TABLE dead_letters ADD CONSTRAINT refuse CHECK (last_error IS DISTINCT FROM 'refused')"
    )
    execution_id = new_execution_id()
    errors = ["fine", "refused", "also fine"]
    acks = [
        await publish_work(nc, work_letter(execution_id, dispatch=d, last_error=e))
        for d, e in enumerate(errors, start=2)
    ]
    await eventually(lambda: consumer_done(nc, acks[-1].seq), message="the refused record blocked the DLQ")
    rows = await pg.fetch("SELECT last_error FROM dead_letters ORDER BY stream_seq")
    assert [r["last_error"] for r in rows] == ["fine", "also fine"]
    # The refused record stays in the stream (limits retention) and was not published anywhere again.
    assert (await nc.jetstream().stream_info(streams.DLQ)).state.messages == 3
