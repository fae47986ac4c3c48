"""Stream provisioning and the EVENTS stream's append -> events subject transform (real nats-server)."""

from __future__ import annotations

import asyncio
import dataclasses

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StreamConfig

from jamjet_common import streams, subjects
from jamjet_common.errors import AppendConflictError
from jamjet_common.eventlog import EMPTY, EventLog
from jamjet_common.events import EVENT_DECODER, NodeScheduled, WorkflowStarted
from jamjet_common.streams import StreamLimits
from tests.helpers import eventually

STARTED = WorkflowStarted(workflow_id="wf", workflow_version="1.0.0", initial_input={})


async def assert_provisioned(js: JetStreamContext, limits: StreamLimits) -> None:
    for config in streams.stream_configs(limits):
        assert config.name is not None
        info = await js.stream_info(config.name)
        assert info.config.subjects == config.subjects
        assert info.config.max_age == config.max_age
        assert info.config.retention == config.retention
    events = (await js.stream_info(streams.EVENTS)).config
    assert events.subject_transform is not None
    assert (events.subject_transform.src, events.subject_transform.dest) == (
        "jamjet.append.>",
        "jamjet.events.>",
    )
    assert events.republish is not None and events.allow_direct
    assert (await js.stream_info(streams.CMDS)).config.no_ack is True
    for bucket in (streams.KV_WORKFLOWS, streams.KV_TENANTS):
        assert (await (await js.key_value(bucket)).status()).bucket == bucket


async def test_ensure_streams_twice_keeps_streams_and_their_messages(
    js: JetStreamContext, limits: StreamLimits, nc: NATS
) -> None:
    await streams.ensure_streams(js, limits)
    await EventLog(nc, js).append_after("t", "e1", STARTED, EMPTY)
    await streams.ensure_streams(js, limits)
    await assert_provisioned(js, limits)
    assert (await js.stream_info(streams.EVENTS)).state.messages == 1, "the second call must not recreate"


async def test_ensure_streams_concurrently_from_four_tasks(
    js: JetStreamContext, limits: StreamLimits
) -> None:
    await asyncio.gather(*(streams.ensure_streams(js, limits) for _ in range(4)))
    await assert_provisioned(js, limits)


async def test_ensure_streams_concurrently_from_four_connections(nats_url: str, limits: StreamLimits) -> None:
    clients = [await nats.connect(nats_url) for _ in range(4)]
    try:
        await asyncio.gather(*(streams.ensure_streams(c.jetstream(timeout=10), limits) for c in clients))
        await assert_provisioned(clients[0].jetstream(), limits)
    finally:
        for client in clients:
            await client.close()


async def test_ensure_streams_updates_a_stream_created_with_an_older_config(
    js: JetStreamContext, limits: StreamLimits
) -> None:
    old = StreamConfig(name=streams.EVENTS, subjects=[subjects.APPEND_ALL], max_age=60.0, max_msg_size=2048)
    await js.add_stream(config=old)
    await js.publish("jamjet.append.t.old", b"{}")
    await streams.ensure_streams(js, limits)
    info = await js.stream_info(streams.EVENTS)
    assert info.config.max_age == 30 * streams.DAY
    assert info.config.max_msg_size == limits.max_msg_bytes
    assert info.config.subject_transform is not None
    assert info.state.messages == 1, "updating keeps what the stream holds"
    await assert_provisioned(js, limits)


async def test_ensure_streams_applies_changed_limits(js: JetStreamContext, limits: StreamLimits) -> None:
    await streams.ensure_streams(js, limits)
    shorter = dataclasses.replace(limits, events_max_age_secs=3600.0)
    await streams.ensure_streams(js, shorter)
    assert (await js.stream_info(streams.EVENTS)).config.max_age == 3600.0


async def test_buckets_on_one_server_answer_reads_directly(
    js: JetStreamContext, limits: StreamLimits
) -> None:
    # A bucket from before: reads through the JetStream API.
    await js.create_key_value(KeyValueConfig(bucket=streams.KV_TENANTS, history=1))
    await streams.ensure_streams(js, limits)
    for bucket in (streams.KV_TENANTS, streams.KV_WORKFLOWS, streams.KV_AGENTS, streams.KV_REPLIES):
        assert (await js.stream_info(f"KV_{bucket}")).config.allow_direct, bucket
    assert (await js.key_value(streams.KV_TENANTS))._direct


# ---- the EVENTS stream ---------------------------------------------------------------------------------


async def test_an_append_is_stored_under_the_events_subject(
    provisioned: JetStreamContext, log: EventLog
) -> None:
    appended = await log.append_after("acme", "exec_1", STARTED, EMPTY)
    stored = await provisioned.get_msg(streams.EVENTS, seq=appended.tail.stream_seq)
    assert stored.subject == "jamjet.events.acme.exec_1"
    assert EVENT_DECODER.decode(stored.data or b"") == appended.event


async def test_subscribers_see_only_accepted_appends(nc: NATS, log: EventLog) -> None:
    seen: list[Msg] = []

    async def collect(msg: Msg) -> None:
        seen.append(msg)

    sub = await nc.subscribe(subjects.EVENTS_ALL, cb=collect)
    await nc.flush()
    first = await log.append_after("acme", "exec_1", STARTED, EMPTY)
    with pytest.raises(AppendConflictError):
        await log.append_after("acme", "exec_1", NodeScheduled(node_id="loser", queue_type="tool"), EMPTY)
    marker = await log.append_after(
        "acme", "exec_1", NodeScheduled(node_id="a", queue_type="tool"), first.tail
    )
    await eventually(lambda: len(seen) >= 2, timeout=5, message="accepted appends republished")
    await nc.flush()
    await sub.unsubscribe()
    assert [m.subject for m in seen] == ["jamjet.events.acme.exec_1"] * 2
    events = [EVENT_DECODER.decode(m.data) for m in seen]
    assert events == [first.event, marker.event]
    assert all(getattr(e.kind, "node_id", None) != "loser" for e in events)


async def test_writers_publish_on_the_append_subject(nc: NATS, log: EventLog) -> None:
    appends: list[Msg] = []

    async def collect(msg: Msg) -> None:
        appends.append(msg)

    sub = await nc.subscribe(subjects.APPEND_ALL, cb=collect)
    await nc.flush()
    await log.append_after("acme", "exec_2", STARTED, EMPTY)
    await eventually(lambda: appends, timeout=5)
    await sub.unsubscribe()
    assert appends[0].subject == "jamjet.append.acme.exec_2"
