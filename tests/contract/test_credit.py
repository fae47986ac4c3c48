"""The credit pool that bounds what a process's pull feeds ask for."""

from __future__ import annotations

from jamjet_common.credit import SHORT_EXPIRES_SECS, Credit, Share

LONG = 30.0


def woken(pool: Credit, *shares: Share) -> list[str]:
    order: list[str] = []
    for name, share in zip("abcdef", shares, strict=False):
        share.on_release(lambda name=name: order.append(name))
    return order


def test_a_quiet_feed_asks_for_one_and_a_feed_with_messages_waiting_for_every_free_slot() -> None:
    pool = Credit(4)
    share = pool.share()
    assert share.draw(4) == 1
    assert share.draw(4) == 0
    share.delivered(pending=5)
    assert share.draw(4) == 3
    assert pool.free == 0
    assert share.draw(4) == 0


def test_slots_drawn_stay_taken_until_the_work_ends_or_the_request_ends_without_them() -> None:
    pool = Credit(3)
    share = pool.share()
    assert share.draw(3) == 1
    share.delivered(pending=9)
    assert share.draw(3) == 2
    share.delivered(pending=9)
    assert (pool.free, share.outstanding) == (0, 1)
    share.unsent(1)
    assert (pool.free, share.outstanding) == (1, 0)
    pool.release(2)
    assert pool.free == 3


def test_a_message_on_a_forgotten_request_takes_a_slot_all_the_same() -> None:
    pool = Credit(2)
    share = pool.share()
    assert share.draw(2) == 1
    share.unsent(1)
    share.delivered(pending=0)
    assert (pool.free, share.outstanding) == (1, 0)


def test_a_request_that_ends_unfilled_makes_its_feed_quiet_again() -> None:
    pool = Credit(4)
    share = pool.share()
    assert share.draw(4) == 1
    share.delivered(pending=3)
    assert share.draw(4) == 3
    share.unsent(3)
    pool.release(1)
    assert share.draw(4) == 1


def test_slots_come_back_first_to_feeds_without_a_request() -> None:
    pool = Credit(2)
    a, b = pool.share(), pool.share()
    order = woken(pool, a, b)
    assert a.draw(1) == b.draw(1) == 1
    b.delivered(pending=0)
    pool.release(1)
    assert order == ["b", "a"]


def test_a_pool_too_small_for_every_feed_goes_round_them() -> None:
    pool = Credit(1)
    a, b = pool.share(), pool.share()
    assert a.draw(1) == 1
    assert a.expires(1, LONG) == SHORT_EXPIRES_SECS
    a.unsent(1)
    order = woken(pool, a, b)
    pool.release(0)
    assert order == ["b", "a"]


def test_only_a_feeds_one_request_for_one_message_waits_long_and_only_while_no_feed_lacks_a_slot() -> None:
    pool = Credit(3)
    a, b = pool.share(), pool.share()
    assert a.draw(1) == 1
    assert a.expires(1, LONG) == LONG
    a.delivered(pending=4)
    assert a.draw(3) == 2
    assert a.expires(2, LONG) == SHORT_EXPIRES_SECS
    assert pool.free == 0
    assert b.draw(1) == 0


def test_a_closed_pool_grants_nothing_but_takes_slots_back() -> None:
    pool = Credit(2)
    share = pool.share()
    assert share.draw(1) == 1
    pool.close()
    share.unsent(1)
    assert pool.free == 2
    assert share.draw(1) == 0
