"""A pull feed bounded by a credit pool, against a real nats-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy

from jamjet_common import pullfeed
from jamjet_common.credit import Credit, Share
from jamjet_common.pullfeed import PullFeed
from tests.helpers import eventually
from tests.pulls import PullRequests, waiting

STREAM = "FEEDS"


@pytest.fixture
async def feeds(js: JetStreamContext) -> JetStreamContext:
    await js.add_stream(name=STREAM, subjects=["feeds.>"])
    for name in ("a", "b"):
        config = ConsumerConfig(
            durable_name=name, filter_subject=f"feeds.{name}", ack_policy=AckPolicy.EXPLICIT, ack_wait=30
        )
        await js.add_consumer(STREAM, config=config)
    return js


@asynccontextmanager
async def started(nc: NATS, consumer: str, share: Share) -> AsyncIterator[PullFeed]:
    feed = PullFeed(nc, STREAM, consumer, max_messages=8, credit=share)
    await feed.start()
    try:
        yield feed
    finally:
        await feed.stop()


async def take(feed: PullFeed) -> list[Msg]:
    async with asyncio.timeout(10):
        return await feed.next_batch(8, asyncio.Event())


async def counts(js: JetStreamContext, consumer: str) -> tuple[int, int, int]:
    """Delivered and unacked, not delivered yet, pull requests waiting."""
    info = await js.consumer_info(STREAM, consumer)
    return info.num_ack_pending, info.num_pending or 0, info.num_waiting or 0


async def at(js: JetStreamContext, expected: tuple[int, int, int]) -> bool:
    return await counts(js, "a") == expected


async def test_a_feed_never_holds_more_messages_than_its_credit(nc: NATS, feeds: JetStreamContext) -> None:
    pool = Credit(2)
    async with started(nc, "a", pool.share()) as feed:
        for n in range(5):
            await feeds.publish("feeds.a", str(n).encode())
        held = await take(feed)
        held += await take(feed)
        assert len(held) == 2
        assert await counts(feeds, "a") == (2, 3, 0)
        for left in (2, 1, 0):
            await held.pop(0).ack()
            pool.release(1)
            held += await take(feed)
            await eventually(lambda left=left: at(feeds, (2, left, 0)), message=f"not 2 held, {left} left")
            assert feed.buffered == 0
        assert [m.data for m in held] == [b"3", b"4"]


async def test_a_message_stored_while_the_feed_is_idle_needs_no_new_request(
    nc: NATS, feeds: JetStreamContext
) -> None:
    pool = Credit(1)
    requests = await PullRequests.watch(nc, STREAM, "a")
    async with started(nc, "a", pool.share()) as feed:
        await eventually(lambda: waiting(feeds, STREAM, "a"), message="no pull request out")
        assert await requests.seen() == [1]
        await feeds.publish("feeds.a", b"now")
        [msg] = await take(feed)
        assert await requests.seen() == [1]
        assert await counts(feeds, "a") == (1, 0, 0)
        await msg.ack()
        pool.release(1)
        await eventually(lambda: waiting(feeds, STREAM, "a"), message="no pull request after the work")
        assert await requests.seen() == [1, 1]


async def test_feeds_sharing_too_few_slots_take_turns(nc: NATS, feeds: JetStreamContext) -> None:
    pool = Credit(1)
    shares = pool.share(), pool.share()
    async with started(nc, "a", shares[0]), started(nc, "b", shares[1]) as second:
        await feeds.publish("feeds.b", b"for the second feed")
        [msg] = await take(second)
        assert msg.data == b"for the second feed"
        assert (await counts(feeds, "a"))[2] == 0


async def test_a_wait_for_messages_ends_when_its_stop_is_set_and_the_next_wait_still_wakes(
    nc: NATS, feeds: JetStreamContext
) -> None:
    async with started(nc, "a", Credit(1).share()) as feed:
        stopping = asyncio.Event()
        waiting_for_one = asyncio.create_task(feed.next_batch(8, stopping))
        await eventually(lambda: waiting(feeds, STREAM, "a"), message="no pull request out")
        assert not waiting_for_one.done()
        stopping.set()
        assert await asyncio.wait_for(waiting_for_one, 10) == []
        # A later wait, with another stop event, is woken by a delivery as before.
        later = asyncio.create_task(feed.next_batch(8, asyncio.Event()))
        await feeds.publish("feeds.a", b"after")
        assert [m.data for m in await asyncio.wait_for(later, 10)] == [b"after"]


async def test_a_feed_whose_consumer_is_gone_makes_it_again_and_gets_what_was_not_acked(
    nc: NATS, js: JetStreamContext
) -> None:
    await js.add_stream(name="REMADE", subjects=["remade.>"], retention=RetentionPolicy.WORK_QUEUE)
    config = ConsumerConfig(
        durable_name="r",
        filter_subject="remade.>",
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=30,
        mem_storage=True,
    )
    await js.add_consumer("REMADE", config=config)
    made: list[float] = []

    async def remake() -> None:
        made.append(asyncio.get_running_loop().time())
        await js.add_consumer("REMADE", config=config)

    feed = PullFeed(nc, "REMADE", "r", max_messages=8, remake=remake)
    await feed.start()
    try:
        await js.publish("remade.1", b"before")
        assert [m.data for m in await take(feed)] == [b"before"]  # delivered, never acked
        await js.delete_consumer("REMADE", "r")  # what a restart does to a consumer kept in memory
        await js.publish("remade.2", b"after")
        seen: list[bytes] = []
        while len(seen) < 2:
            for msg in await take(feed):
                seen.append(msg.data)
                await msg.ack()
        assert seen == [b"before", b"after"]
        assert 1 <= len(made) <= 2, f"the consumer was made again {len(made)} times"
        await eventually(
            lambda: _emptied(js, "REMADE"), message="an ack did not reach the consumer made again"
        )
    finally:
        await feed.stop()


async def _emptied(js: JetStreamContext, stream: str) -> bool:
    return (await js.stream_info(stream)).state.messages == 0


@asynccontextmanager
async def gathering(nc: NATS, consumer: str, gather: float = 0.05) -> AsyncIterator[PullFeed]:
    feed = PullFeed(nc, STREAM, consumer, max_messages=8, gather=gather)
    await feed.start()
    try:
        yield feed
    finally:
        await feed.stop()


async def test_a_gathering_feed_takes_what_was_stored_meanwhile_in_one_burst(
    nc: NATS, feeds: JetStreamContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only the server's end of the no_wait pull can end the wait within the test's deadline.
    monkeypatch.setattr(pullfeed, "BURST_WAIT_SECS", 600.0)
    for n in range(4):
        await feeds.publish("feeds.a", str(n).encode())
    requests = await PullRequests.watch(nc, STREAM, "a")
    async with gathering(nc, "a") as feed:
        batch = await take(feed)
        assert [m.data for m in batch] == [b"0", b"1", b"2", b"3"]
        # One message pulled while idle, then the rest of the batch without waiting.
        assert await requests.seen() == [1, 7, 1]
        assert await counts(feeds, "a") == (4, 0, 1)


async def test_a_gathering_feed_hands_out_a_lone_message_when_nothing_more_is_stored(
    nc: NATS, feeds: JetStreamContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pullfeed, "BURST_WAIT_SECS", 600.0)
    async with gathering(nc, "a") as feed:
        await eventually(lambda: waiting(feeds, STREAM, "a"), message="no pull request out")
        await feeds.publish("feeds.a", b"alone")
        assert [m.data for m in await take(feed)] == [b"alone"]
        await feeds.publish("feeds.a", b"next")
        assert [m.data for m in await take(feed)] == [b"next"]


async def test_a_hurried_feed_hands_out_what_it_holds_without_its_linger(
    nc: NATS, feeds: JetStreamContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pullfeed, "BURST_WAIT_SECS", 600.0)
    async with gathering(nc, "a", 600.0) as feed:  # lingers ten minutes unless told otherwise
        assert not feed.hurry(), "an idle feed said it held messages"
        await feeds.publish("feeds.a", b"first")
        taking = asyncio.ensure_future(take(feed))  # lingers 600 s unless hurried
        await eventually(lambda: feed._linger is not None, message="the feed never lingered")
        await feeds.publish("feeds.a", b"meanwhile")  # stored: the no_wait pull after the linger takes it
        assert feed.hurry()
        assert [m.data for m in await taking] == [b"first", b"meanwhile"]


async def test_a_gathering_feed_that_is_behind_takes_the_rest_without_waiting(
    nc: NATS, feeds: JetStreamContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pullfeed, "BURST_WAIT_SECS", 600.0)
    for n in range(16):
        await feeds.publish("feeds.a", str(n).encode())
    async with gathering(nc, "a", 600.0) as feed:  # lingers ten minutes unless told otherwise
        first = await take(feed)  # each first message says a batch's worth waits behind it: no linger
        second = await take(feed)
        assert [m.data for m in first + second] == [str(n).encode() for n in range(16)]
        assert [len(first), len(second)] == [8, 8]


async def test_a_feed_hurried_between_batches_skips_its_next_linger(
    nc: NATS, feeds: JetStreamContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pullfeed, "BURST_WAIT_SECS", 600.0)
    async with gathering(nc, "a", 600.0) as feed:  # lingers ten minutes unless told otherwise
        await feeds.publish("feeds.a", b"held")
        await eventually(lambda: feed.buffered == 1, message="the message never reached the feed")
        assert feed.hurry()
        assert [m.data for m in await take(feed)] == [b"held"]


def test_a_gathering_feed_takes_no_credit(nc: NATS) -> None:
    with pytest.raises(ValueError, match="no credit"):
        PullFeed(nc, STREAM, "a", max_messages=8, gather=0.05, credit=Credit(1).share())
