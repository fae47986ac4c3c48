"""CommandsFirst: while commands wait or are being handled, few lanes take new events."""

from __future__ import annotations

import asyncio

from services.scheduler.lanes import Lanes
from services.scheduler.priority import CommandsFirst


async def test_events_are_held_back_until_the_last_command_in_hand_is_answered() -> None:
    lanes = Lanes()
    first = CommandsFirst(lanes, under_commands=1)
    release = asyncio.Event()
    lanes.submit("busy", release.wait)  # one lane busy: the limit while commands press
    first.waiting(0, 0, None)
    first.began()  # none waits, but one is being handled: the end of a burst
    assert first.pressing and not first.pressing_besides_one
    stopping = asyncio.Event()
    admitted = asyncio.create_task(first.admit_event(stopping))
    await asyncio.sleep(0)
    assert not admitted.done()
    first.ended()
    await asyncio.wait_for(admitted, 5)
    assert not first.pressing
    release.set()


async def test_a_second_command_in_hand_defers_a_starts_first_plan() -> None:
    first = CommandsFirst(Lanes(), under_commands=16)
    first.began()
    assert not first.pressing_besides_one
    first.began()
    assert first.pressing_besides_one
    first.ended()
    first.ended()
    assert not first.pressing
