"""Commands before events: while commands wait, few lanes take new events.

Every await of a start's handling queues behind every task that is ready on the scheduler's event loop,
so with thousands of lanes planning the executions already started, each of a burst of starts took
seconds. While commands wait (in the command consumer, in the feed's buffer, or for a command slot),
the partition feeds hand new events to at most ``under_commands`` busy lanes, and a start does not plan
its execution at once (its WorkflowStarted, coming back through the partition, does): executions still
progress, but commands come first. With no command waiting, events flow as before.
"""

from __future__ import annotations

import asyncio

from nats.aio.msg import Msg

from services.scheduler.lanes import Lanes


class CommandsFirst:
    def __init__(self, lanes: Lanes, under_commands: int) -> None:
        self._lanes = lanes
        self._under = under_commands
        self._waiting = 0
        self._running = 0
        self._changed: asyncio.Event | None = None
        lanes.on_freed = self.wake

    @property
    def pressing(self) -> bool:
        """Commands are waiting to be handled, or being handled."""
        return self._waiting + self._running > 0

    @property
    def pressing_besides_one(self) -> bool:
        """Commands other than the asking one (a start, say) are waiting or being handled."""
        return self._waiting + self._running > 1

    def waiting(self, unstarted: int, buffered: int, newest: Msg | None) -> None:
        """What waits now: commands taken but not started, buffered in the feed, and on the server
        behind ``newest`` (the last command taken)."""
        behind = 0 if newest is None else newest.metadata.num_pending
        self._waiting = unstarted + buffered + behind
        if not self.pressing:
            self.wake()

    def began(self) -> None:
        """A command is being handled. Until it is answered, events stay held back: the last commands
        of a burst, once none waits, would otherwise be handled among the flood of events let go."""
        self._running += 1

    def ended(self) -> None:
        self._running -= 1
        if not self.pressing:
            self.wake()

    async def admit_event(self, stopping: asyncio.Event) -> None:
        """Return once a new event may go to the lanes, or ``stopping`` is set (then call ``wake``)."""
        while self.pressing and self._lanes.busy >= self._under and not stopping.is_set():
            if self._changed is None:
                self._changed = asyncio.Event()
            await self._changed.wait()

    def wake(self) -> None:
        """Have the waiting pulls look again."""
        if self._changed is not None:
            self._changed.set()
            self._changed = None
