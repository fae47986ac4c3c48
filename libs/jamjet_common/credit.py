"""Credit that bounds what several pull feeds ask for, in all.

A feed draws one slot for every message it asks the server for. The slot stays taken while the
message is buffered and while its work runs, and comes back when the work ends (``release``) or when
the request ends without the message. So messages asked for, delivered and in progress never exceed
the pool: nothing is delivered that cannot start at once, and nothing burns its ack wait in a buffer.

Among the feeds: when slots come back, feeds without a request out are served first, then the rest,
each in the order it was last served. A feed asks for one message at a time while its queue is quiet
(the last message delivered said none was left behind it), and for every free slot while messages
wait; a quiet queue holds one slot, not the pool. A feed's one request for one message may wait long;
any other request, or one taking a slot that other feeds lack, expires soon, so credit held by a feed
whose queue went quiet comes back quickly.
"""

from __future__ import annotations

from collections.abc import Callable

SHORT_EXPIRES_SECS = 1.0
"""How long a request holds slots other feeds may want (the old fetch's long poll, too)."""


class Credit:
    """``size`` slots shared by the feeds of one process."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._free = size
        self._shares: list[Share] = []
        self._closed = False

    @property
    def free(self) -> int:
        """Slots neither asked for nor in use."""
        return self._free

    def share(self) -> Share:
        """A new feed's draw on this pool."""
        share = Share(self)
        self._shares.append(share)
        return share

    def release(self, count: int) -> None:
        """Give back ``count`` slots: work ended, or requests ended without their messages."""
        self._free += count
        for share in sorted(self._shares, key=lambda s: s.outstanding > 0):
            share.wake()

    def close(self) -> None:
        """Draw nothing more (the process is stopping); slots still come back."""
        self._closed = True

    def draw(self, share: Share, most: int) -> int:
        granted = 0 if self._closed else max(min(most, self._free), 0)
        if granted:
            self._free -= granted
            # Served last from now on: a pool too small for every feed goes round them.
            self._shares.remove(share)
            self._shares.append(share)
        return granted

    def overdraw(self, count: int) -> None:
        self._free -= count

    def waiting(self) -> int:
        """Feeds with no request out, which the next slot back goes to."""
        return sum(1 for share in self._shares if share.outstanding == 0)


class Share:
    """One feed's draw on a ``Credit`` pool: how many messages it asks for, and for how long."""

    def __init__(self, pool: Credit) -> None:
        self._pool = pool
        self.outstanding = 0
        """Slots drawn for messages asked for and not delivered yet."""
        self._want = 1
        self._wake: Callable[[], None] = lambda: None

    def on_release(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` whenever slots come back to the pool (the feed then tops up)."""
        self._wake = wake

    def wake(self) -> None:
        self._wake()

    def draw(self, most: int) -> int:
        """Slots for a request of up to ``most`` messages; 0 when the feed has asked enough."""
        granted = self._pool.draw(self, min(most, self._want - self.outstanding))
        self.outstanding += granted
        return granted

    def expires(self, batch: int, longest: float) -> float:
        """How long a request for ``batch`` messages, just drawn, may wait at the server."""
        if batch == self.outstanding == 1 and self._pool.free >= self._pool.waiting():
            return longest
        return min(SHORT_EXPIRES_SECS, longest)

    def delivered(self, pending: int) -> None:
        """A message asked for arrived, ``pending`` more wait behind it; its slot stays taken."""
        if self.outstanding > 0:
            self.outstanding -= 1
        else:  # on a request forgotten at a renewal: it takes a slot all the same
            self._pool.overdraw(1)
        self._want = self._pool.size if pending > 0 else 1

    def give(self, count: int) -> None:
        """Messages delivered and never handed out were given back to the server."""
        self._pool.release(count)

    def unsent(self, count: int) -> None:
        """Requests ended without ``count`` of their messages: their slots come back."""
        if count <= 0:
            return
        self.outstanding -= count
        self._want = 1  # the queue had nothing more for this feed
        self._pool.release(count)
