"""Appending to and reading an execution's event log on the EVENTS stream.

Each execution's events live on their own subject. Appends are optimistic: a writer states the stream
sequence of the last event it knows on that subject (``Nats-Expected-Last-Subject-Sequence``) and
assigns the next event sequence, so the log stays gapless and duplicate-free however many services
write to it at once. A writer that loses the race re-reads the tail and decides again.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NoReturn

import msgspec
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import APIError, NotFoundError

from jamjet_common import refusals, subjects
from jamjet_common.chain_gate import ChainGate
from jamjet_common.codec import ENCODER
from jamjet_common.errors import AppendConflictError, InvalidTokenError
from jamjet_common.events import EVENT_DECODER, HEAD_DECODER, Event, EventKind
from jamjet_common.ids import uuid4_str
from jamjet_common.keylocks import KeyedLocks
from jamjet_common.publisher import (
    CONFLICT_CODES,
    EXPECTED_LAST_SUBJECT_SEQ,
    MSG_ID,
    Ack,
    JsPublisher,
)
from jamjet_common.seen import SeenEvents
from jamjet_common.streams import EVENTS
from jamjet_common.tail import EMPTY as EMPTY
from jamjet_common.tail import Tail as Tail

logger = logging.getLogger(__name__)

EXPECTED_LAST_SUBJECT_SEQ_SUBJECT = "Nats-Expected-Last-Subject-Sequence-Subject"
EXPECTED_LAST_SEQ = "Nats-Expected-Last-Sequence"
EXPECTED_LAST_MSG_ID = "Nats-Expected-Last-Msg-Id"
WRONG_LAST_MSG_ID = 10070
CHAIN_BROKEN = CONFLICT_CODES | {WRONG_LAST_MSG_ID}
"""How the stream refuses a message chained behind one that did not land just before it."""
MAX_APPEND_ATTEMPTS = 100


@dataclass(frozen=True, slots=True)
class Appended:
    event: Event
    tail: Tail
    duplicate: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    """The message headers the event was stored with, apart from the ``Nats-*`` ones."""


@dataclass(frozen=True, slots=True)
class Entry:
    """An event as read from the log, with its stream sequence and message headers."""

    event: Event
    stream_seq: int
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A message in the log that is not an event: readers step over it, as over any refused message."""

    stream_seq: int
    error: str


def _sequence(data: bytes | None) -> int | None:
    """The event sequence of a stored message; None if it is not an event."""
    try:
        return HEAD_DECODER.decode(data or b"").sequence
    except msgspec.DecodeError:
        return None


def appended_after(subject: str, headers: Mapping[str, str] | None) -> int | None:
    """The stream sequence a message on ``subject`` was conditionally appended after; None if it was not.

    A check on another subject (``Nats-Expected-Last-Subject-Sequence-Subject``) says nothing about this
    subject's messages, with one exception: a first event's check that the execution id is unused in
    every tenant (:meth:`EventLog.append_first`) covers this subject too, so "after 0" holds for it.
    """
    headers = headers or {}
    after = headers.get(EXPECTED_LAST_SUBJECT_SEQ, "")
    if not after.isdigit():
        return None
    checked = headers.get(EXPECTED_LAST_SUBJECT_SEQ_SUBJECT)
    if checked is None:
        return int(after)
    return 0 if after == "0" and checked == _in_any_tenant(subject) else None


def _in_any_tenant(subject: str) -> str | None:
    """``jamjet.events.*.<id>`` for ``jamjet.events.<tenant>.<id>``: the id's logs in every tenant."""
    try:
        return subjects.events_in_any_tenant(subjects.parse_events_subject(subject)[1])
    except InvalidTokenError:
        return None


def own_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """``headers`` without the ones NATS adds or interprets (``Nats-*``)."""
    return {k: v for k, v in (headers or {}).items() if not k.startswith("Nats-")}


@dataclass(frozen=True, slots=True)
class Link:
    """One event of a chain appended in one round trip (:meth:`EventLog.append_chain`)."""

    event: Event
    headers: Mapping[str, str] | None = None
    msg_id: str | None = None
    """Its ``Nats-Msg-Id`` (a deduplication id), for the chain's last link only: every other link's is
    its event id, which the next link's check names."""


def chain(
    execution_id: str,
    after: Tail,
    kinds: Sequence[EventKind],
    *,
    headers: Mapping[str, str] | None = None,
    last_msg_id: str | None = None,
) -> list[Link]:
    """Links for ``kinds`` appended after ``after``, each with ``headers``; ``last_msg_id``: the last
    one's deduplication id."""
    first, last = after.sequence + 1, len(kinds) - 1
    return [
        Link(new_event(execution_id, first + i, kind), headers, last_msg_id if i == last else None)
        for i, kind in enumerate(kinds)
    ]


def _chain_checks(
    after: Tail, behind: int, events: Sequence[Event], index: int, link: Link
) -> dict[str, str]:
    """The headers of link ``index``: its own, its message id and its place in the chain."""
    checks = {**own_headers(link.headers), MSG_ID: link.msg_id or link.event.id}
    if index == 0:
        checks[EXPECTED_LAST_SUBJECT_SEQ] = str(after.stream_seq)
        if after.sequence == 0:  # an execution's first event: no log of the id in any tenant
            checks[EXPECTED_LAST_SUBJECT_SEQ_SUBJECT] = subjects.events_in_any_tenant(events[0].execution_id)
        return checks
    previous = str(behind + index)
    checks.update(
        {
            EXPECTED_LAST_SUBJECT_SEQ: previous,
            EXPECTED_LAST_SEQ: previous,
            EXPECTED_LAST_MSG_ID: events[index - 1].id,
        }
    )
    return checks


def _refused(execution_id: str, after: Tail, exc: APIError) -> NoReturn:
    """Raise what an append the stream refused means: a conflict if the log moved past ``after``."""
    if exc.err_code in CONFLICT_CODES:
        raise _moved(execution_id, after) from exc
    raise exc


def _moved(execution_id: str, after: Tail) -> AppendConflictError:
    return AppendConflictError(f"log of {execution_id} moved past {after.sequence}")


def new_event(execution_id: str, sequence: int, kind: EventKind) -> Event:
    return Event(
        id=uuid4_str(),
        execution_id=execution_id,
        sequence=sequence,
        created_at=datetime.now(UTC),
        kind=kind,
    )


class EventLog:
    """Reads and appends execution events; one instance per NATS connection."""

    def __init__(
        self,
        nc: Client,
        js: JetStreamContext,
        *,
        stream: str = EVENTS,
        remembered: int = 4096,
        direct: bool = True,
        publisher: JsPublisher | None = None,
    ) -> None:
        """``direct=False``: read the log through the stream's leader, never from a replica that lags.

        ``publisher``: the connection's, shared with its other writers (else the log makes its own).
        """
        self._nc = nc
        self._js = js
        self.publisher = publisher or JsPublisher.for_js(js)
        self._stream = stream
        self._direct = direct
        self._tails: OrderedDict[str, Tail] = OrderedDict()
        self._remembered = remembered
        self._writers = KeyedLocks()
        self._seen = SeenEvents()
        self._gate = ChainGate()

    async def allow_chaining(self) -> None:
        """Let :meth:`append_chain` chain when the stream is served by one server alone.

        A chained message's checks (the stream's last message, its id) hold what they say only where
        one server orders every write; a replicated stream's leader checks the last message id against
        what it has applied, not against the proposals still in flight. A stream that cannot be read
        now is taken for a replicated one.
        """
        self._gate.allowed = False
        try:
            info = await self._js.stream_info(self._stream)
        except Exception as exc:
            logger.warning("%s not read (%s); appends are not chained", self._stream, exc)
            return
        replicas = info.config.num_replicas or 1
        self._gate.allowed = replicas == 1 and (info.cluster is None or info.cluster.name is None)

    def chains(self, after: Tail) -> bool:
        """Whether appends after ``after`` are worth sending as a chain (``jamjet_common.chain_gate``)."""
        return self._gate.open(after.stream_seq)

    def quiet_position(self) -> int | None:
        """The stream's last sequence as this writer last saw it, when a chain right behind it is worth
        sending (an execution's first events, :meth:`append_chain`'s ``behind``); else None.

        A peek at the gate: a start it turns away is planned the usual way, which asks the gate again
        (:meth:`chains`), and one start must use up one try of its backoff, not two."""
        last = self._gate.last_acked
        return last if last > 0 and self._gate.open(last, peek=True) else None

    def _remember(self, execution_id: str, tail: Tail) -> None:
        known = self._tails.get(execution_id)
        if known is not None and known.stream_seq > tail.stream_seq:
            return  # an append that landed earlier but returned later
        self._tails[execution_id] = tail
        self._tails.move_to_end(execution_id)
        if len(self._tails) > self._remembered:
            self._tails.popitem(last=False)

    async def tail(self, tenant: str, execution_id: str, *, trusted: Tail | None = None) -> Tail:
        """The log's position: its last accepted event, and the stream sequence of its last message.

        The two differ when messages that readers refuse (``jamjet_common.refusals``) were stored last;
        the next event must then follow the accepted sequence, conditional on the last message.

        ``trusted``: a position known to be accepted (this writer's own append, the scheduler's fold). The
        messages stored after it are checked by walking back their chain of conditional appends
        (:meth:`_chained`); without it, or when the chain does not prove the last message accepted, the
        whole log is read and its accepted messages counted. A cold writer pays that read rather than
        trust the last message on its own word: a forged chain of conditional appends (sequence k+5
        after the true tail k, then k+6 after it) looks consistent from its end, and a writer that
        followed it would append an event that readers refuse, losing it. Writers are rarely cold: a
        worker appends from its work item's ``node_scheduled`` (:meth:`append_unless`).
        """
        subject = subjects.events(tenant, execution_id)
        try:
            msg = await self._js.get_msg(self._stream, subject=subject, direct=True)
        except NotFoundError:
            return EMPTY
        assert msg.seq is not None
        sequence = _sequence(msg.data)
        if trusted is not None and sequence is not None:
            if msg.seq == trusted.stream_seq:
                return trusted
            if await self._chained(subject, msg, trusted):
                return Tail(sequence, msg.seq)
        logger.warning("%s: no trusted chain to the last message; reading the whole log", execution_id)
        return Tail(await self._accepted(subject), msg.seq)

    async def _accepted(self, subject: str) -> int:
        """The sequence of the log's last accepted event, counted as readers fold it."""
        accepted = 0
        async for stored in self._messages(subject, 0):
            if _sequence(stored.data) == accepted + 1:
                accepted += 1
        return accepted

    async def _chained(self, subject: str, last: RawStreamMsg, trusted: Tail) -> bool:
        """Whether every message after ``trusted`` up to ``last`` is accepted, proved from ``last`` back.

        A message conditionally appended after stream sequence s had s as the subject's last message
        when it was stored, so nothing lies between them: a walk back through those headers that lands
        exactly on ``trusted`` has seen every message after it, and if their sequences continue
        ``trusted``'s one by one, readers accept each. One read per message after the first, so the
        common conflict (one or two appends by others since this writer's own) costs what the unchecked
        read did (two); a writer n appends behind pays n (a wide fan-out, a crowd of writers on one log).
        """
        msg, sequence = last, _sequence(last.data)
        while sequence is not None:
            after = appended_after(subject, msg.headers)
            if after is None or after < trusted.stream_seq:
                return False
            if after == trusted.stream_seq:
                return sequence == trusted.sequence + 1
            try:
                msg = await self._js.get_msg(self._stream, seq=after, direct=True)
            except NotFoundError:
                return False
            previous = _sequence(msg.data) if msg.subject == subject else None
            sequence = previous if previous == sequence - 1 else None
        return False

    async def append_after(
        self,
        tenant: str,
        execution_id: str,
        kind: EventKind,
        after: Tail,
        *,
        msg_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        checks: Mapping[str, str] | None = None,
    ) -> Appended:
        """Append only if ``after`` is still the tail; else raise :class:`AppendConflictError`.

        ``headers`` (a trace context, say) are stored with the event and come back from
        :meth:`read_entries`; ``checks`` are further JetStream publish checks (``Nats-Expected-*``).
        """
        event = new_event(execution_id, after.sequence + 1, kind)
        extra = own_headers(headers)
        sent = {**extra, EXPECTED_LAST_SUBJECT_SEQ: str(after.stream_seq), **(checks or {})}
        if msg_id is not None:
            sent[MSG_ID] = msg_id
        subject = subjects.append(tenant, execution_id)
        try:
            ack = await self.publisher.publish(subject, ENCODER.encode(event), sent)
        except APIError as exc:
            _refused(execution_id, after, exc)
        return await self._landed(execution_id, event, ack, after, extra)

    async def _landed(
        self, execution_id: str, event: Event, ack: Ack, after: Tail, headers: dict[str, str]
    ) -> Appended:
        if ack.duplicate:
            return await self._recorded(event, ack.seq, after)
        self._gate.acked(ack.seq)
        landed = Tail(event.sequence, ack.seq)
        self._seen.saw(execution_id, after, landed, event.kind)
        return Appended(event, landed, headers=headers)

    async def append_chain(
        self,
        tenant: str,
        execution_id: str,
        links: Sequence[Link],
        after: Tail,
        *,
        behind: int | None = None,
    ) -> list[Appended]:
        """Append ``links`` one behind the other after ``after``, in one round trip; the ones that landed.

        The first is appended as :meth:`append_after` does (raising :class:`AppendConflictError` if the
        log moved past ``after``). Each next one is sent before the one ahead of it is acknowledged,
        with checks that hold only if that one is the stream's last message, at the position just past
        its predecessor's: the stream's last sequence, this log's last sequence, and the last message
        id (a link carries its event id as ``Nats-Msg-Id``, except a last link given its own). So a link
        lands only directly behind the one before it, in sequence, and never after anything else, such
        as an event that ended what it records. When anything else was written to the stream in between
        (see :meth:`chains`), the rest of the chain is refused and left to the caller: the list is then
        shorter than ``links``.

        Only the last link asks for the stream's ack: that it landed says every link did, each at its
        place. When it did not, the log is read back to find which did (a chain the gate let through
        seldom breaks, and that costs a read of the links' few messages).

        ``behind``: the stream sequence the first link must land right behind for the next to follow,
        when that is not the log's last message: an execution's first events (``after`` is ``EMPTY``)
        follow the stream's last message as this writer saw it (:meth:`quiet_position`). A first event
        carries :meth:`append_first`'s check: no log of the id in any tenant.
        """
        events = [link.event for link in links]
        if [e.sequence for e in events] != list(range(after.sequence + 1, after.sequence + 1 + len(links))):
            raise ValueError(f"{execution_id}: a chain's events must follow {after.sequence} one by one")
        subject = subjects.append(tenant, execution_id)
        behind = after.stream_seq if behind is None else behind
        last = len(links) - 1
        for index, link in enumerate(links[:last]):
            checks = _chain_checks(after, behind, events, index, link)
            await self.publisher.send_unanswered(subject, ENCODER.encode(link.event), checks)
        checks = _chain_checks(after, behind, events, last, links[last])
        waiting = await self.publisher.send(subject, ENCODER.encode(links[last].event), checks)
        try:
            ack = await waiting
        except APIError as exc:
            if last == 0:
                _refused(execution_id, after, exc)
            if exc.err_code not in CHAIN_BROKEN:
                raise
            return await self._chain_read(tenant, execution_id, links, after)
        except Exception as exc:  # unanswered: what landed is in the log
            if last == 0:
                raise
            logger.warning("%s: chained append unanswered: %r", execution_id, exc)
            return await self._chain_read(tenant, execution_id, links, after)
        if last > 0 and (ack.duplicate or ack.seq != behind + len(links)):
            return await self._chain_read(tenant, execution_id, links, after)
        acks = [Ack(ack.stream, behind + 1 + index) for index in range(last)] + [ack]
        return await self._chain_landed(execution_id, links, acks, after)

    async def _chain_read(
        self, tenant: str, execution_id: str, links: Sequence[Link], after: Tail
    ) -> list[Appended]:
        """The links that landed, read from the log: those found in order right past ``after``."""
        acks: list[Ack] = []
        async for entry in self.read_entries(tenant, execution_id, after_stream_seq=after.stream_seq):
            if len(acks) == len(links) or not isinstance(entry, Entry):
                break
            if entry.event.id != links[len(acks)].event.id:
                break
            acks.append(Ack(self._stream, entry.stream_seq))
        if not acks:
            raise _moved(execution_id, after)
        return await self._chain_landed(execution_id, links, acks, after)

    async def _chain_landed(
        self, execution_id: str, links: Sequence[Link], acks: Sequence[Ack], after: Tail
    ) -> list[Appended]:
        """The first ``len(acks)`` links, landed where ``acks`` say."""
        landed: list[Appended] = []
        at = after
        for link, ack in zip(links, acks, strict=False):
            appended = await self._landed(execution_id, link.event, ack, at, own_headers(link.headers))
            landed.append(appended)
            at = appended.tail
        self._remember(execution_id, at)
        if len(links) > 1:
            self._gate.landed(len(landed) == len(links))
        return landed

    async def append_first(
        self, tenant: str, execution_id: str, kind: EventKind, *, headers: Mapping[str, str] | None = None
    ) -> Appended:
        """Append an execution's first event, only if the id has no log in any tenant (ids are global).

        One conditional append whose check (expected last sequence 0) covers the id's subjects in every
        tenant, so two tenants starting one id at once cannot both succeed, and a start pays no separate
        lookup. Raises :class:`AppendConflictError` if a log of the id exists anywhere.
        """
        checked = {EXPECTED_LAST_SUBJECT_SEQ_SUBJECT: subjects.events_in_any_tenant(execution_id)}
        return await self.append_after(tenant, execution_id, kind, EMPTY, headers=headers, checks=checked)

    async def holder(self, execution_id: str) -> str | None:
        """The tenant that holds a log of ``execution_id``, as the stream's leader sees it now; None if
        no tenant does."""
        try:
            msg = await self._js.get_msg(self._stream, subject=subjects.events_in_any_tenant(execution_id))
        except NotFoundError:
            return None
        return subjects.parse_events_subject(msg.subject or "")[0]

    async def _recorded(self, event: Event, stream_seq: int, after: Tail) -> Appended:
        """The event the stream already holds under this message id, and its true log position.

        ``event.sequence`` was only this writer's guess; remembering it as the tail would make the
        next append skip a sequence number.
        """
        try:
            msg = await self._js.get_msg(self._stream, seq=stream_seq, direct=True)
        except NotFoundError:
            return Appended(event, after, duplicate=True)
        assert msg.data is not None
        stored = EVENT_DECODER.decode(msg.data)
        return Appended(
            stored, Tail(stored.sequence, stream_seq), duplicate=True, headers=own_headers(msg.headers)
        )

    async def append(
        self,
        tenant: str,
        execution_id: str,
        kind: EventKind,
        *,
        msg_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Appended:
        """Append at whatever the tail is, retrying when another writer gets there first.

        The first try uses the last position this process saw (its own appends), which saves
        reading the tail whenever nobody else wrote in between. This process's appends to one log take
        turns, so that they follow each other's tails instead of racing each other for it.
        """
        async with self._writers.hold(execution_id):
            return await self._append_at_tail(tenant, execution_id, kind, msg_id=msg_id, headers=headers)

    async def _append_at_tail(
        self,
        tenant: str,
        execution_id: str,
        kind: EventKind,
        *,
        msg_id: str | None,
        headers: Mapping[str, str] | None,
    ) -> Appended:
        tail = self._tails.get(execution_id) or await self.tail(tenant, execution_id)

        async def after_conflict(lost: Tail) -> Tail:
            # Each tail tried is proved accepted, so the walk back starts from it.
            return await self.tail(tenant, execution_id, trusted=lost)

        appended = await self._land(tenant, execution_id, kind, tail, after_conflict, msg_id, headers)
        assert isinstance(appended, Appended)  # after_conflict finds no event to stop at
        return appended

    async def _land(
        self,
        tenant: str,
        execution_id: str,
        kind: EventKind,
        tail: Tail,
        after_conflict: Callable[[Tail], Awaitable[Tail | Event]],
        msg_id: str | None,
        headers: Mapping[str, str] | None,
    ) -> Appended | Event:
        """Append after ``tail``; after each lost race ``after_conflict`` gives the next tail, or an event
        that means the append must not happen at all (then returned)."""
        for attempt in range(MAX_APPEND_ATTEMPTS):
            try:
                appended = await self.append_after(
                    tenant, execution_id, kind, tail, msg_id=msg_id, headers=headers
                )
            except AppendConflictError:
                # Back off a little so that a crowd of writers on one execution spreads out.
                await asyncio.sleep(random.uniform(0, 0.002 * min(attempt, 10)))
                found = await after_conflict(tail)
                if isinstance(found, Event):
                    return found
                tail = found
                continue
            self._remember(execution_id, appended.tail)
            return appended
        raise AppendConflictError(f"could not append to {execution_id} in {MAX_APPEND_ATTEMPTS} attempts")

    async def append_unless(
        self,
        tenant: str,
        execution_id: str,
        kind: EventKind,
        *,
        clear: Tail,
        ended: Callable[[EventKind], bool],
        msg_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Appended | Event:
        """Append ``kind`` unless an event appended after ``clear`` satisfies ``ended``; then return it.

        ``clear``: an accepted position up to which the caller has seen nothing that ``ended`` holds
        for (a dispatch's ``NodeScheduled``, or the writer's own last such append). The append is
        conditional on the tail, so when it lands nothing lies between the tail it names and it; after
        a lost race the events since are read and checked. A dispatch's outcome is appended this way:
        two writers never both record one. What this process has seen of the log (its own appends,
        earlier reads) is not read again.
        """
        async with self._writers.hold(execution_id):
            tail = clear
            if (seen := self._seen.since(execution_id, clear)) is not None:
                tail, events = seen
                if any(ended(kind) for _, kind in events):
                    # Seen without its payload: read the event that ended it whole.
                    found = await self._scan(tenant, execution_id, clear, ended)
                    if isinstance(found, Event):
                        return found
                    tail = found

            async def after_conflict(lost: Tail) -> Tail | Event:
                return await self._scan(tenant, execution_id, lost, ended)

            return await self._land(tenant, execution_id, kind, tail, after_conflict, msg_id, headers)

    async def _scan(
        self, tenant: str, execution_id: str, tail: Tail, ended: Callable[[EventKind], bool]
    ) -> Tail | Event:
        """The first accepted event after ``tail`` that ``ended`` holds for, else the new tail.

        Read from a replica where one serves reads: one that lags only ends the read early, and the
        append after it then conflicts again.
        """
        async for entry in self.read_entries(tenant, execution_id, after_stream_seq=tail.stream_seq):
            event = entry.event if isinstance(entry, Entry) else None
            if event is None or refusals.out_of_sequence(event.sequence, tail.sequence):
                # A message readers refuse takes no place in the log.
                self._seen.saw(execution_id, tail, at := Tail(tail.sequence, entry.stream_seq), None)
                tail = at
                continue
            self._seen.saw(execution_id, tail, at := Tail(event.sequence, entry.stream_seq), event.kind)
            tail = at
            if ended(event.kind):
                return event
        return tail

    async def read(
        self, tenant: str, execution_id: str, *, after_stream_seq: int = 0, leader: bool = False
    ) -> AsyncIterator[tuple[Event, int]]:
        """Yield ``(event, stream_seq)`` for the execution's events past ``after_stream_seq``.

        ``leader``: through the stream's leader, as after an append that conflicted on what a replica
        may not hold yet.
        """
        entries = self.read_entries(tenant, execution_id, after_stream_seq=after_stream_seq, leader=leader)
        async for entry in entries:
            if isinstance(entry, Entry):
                yield entry.event, entry.stream_seq

    async def read_entries(
        self, tenant: str, execution_id: str, *, after_stream_seq: int = 0, leader: bool = False
    ) -> AsyncIterator[Entry | Unreadable]:
        """Like :meth:`read`, with each event's message headers, and the messages that are not events."""
        subject = subjects.events(tenant, execution_id)
        async for msg in self._messages(subject, after_stream_seq, direct=self._direct and not leader):
            assert msg.seq is not None
            try:
                event = EVENT_DECODER.decode(msg.data or b"")
            except msgspec.DecodeError as exc:
                yield Unreadable(msg.seq, f"not an event: {exc}")
                continue
            yield Entry(event, msg.seq, own_headers(msg.headers))

    async def _messages(
        self, subject: str, after_stream_seq: int, *, direct: bool | None = None
    ) -> AsyncIterator[RawStreamMsg]:
        seq = after_stream_seq + 1
        direct = self._direct if direct is None else direct
        while True:
            try:
                msg = await self._js.get_msg(self._stream, seq=seq, subject=subject, next=True, direct=direct)
            except NotFoundError:
                return
            assert msg.seq is not None
            yield msg
            seq = msg.seq + 1
