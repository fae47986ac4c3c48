"""A JetStream KV bucket followed by a watch: an in-memory copy for reads, compare-and-set writes.

Reads come from the copy, so a policy evaluation never waits on the bucket. Writes are compare-and-set
on the key's revision: two replicas changing the same key at once cannot lose each other's change;
the loser re-reads and applies its change again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from jamjet_common import codec
from jamjet_common.errors import JamjetError, RetryableError

logger = logging.getLogger(__name__)

T = TypeVar("T")
Decode = Callable[[str, bytes], T | None]
"""Decode a key's value; None for keys the copy does not keep (raise a JamjetError if unreadable)."""

MAX_CAS_ATTEMPTS = 20
WATCH_READY_SECS = 10.0
SYNC_SECS = 2.0
CHECK_SECS = 1.0
_DELETED = frozenset({"DEL", "PURGE"})
KV_OPERATION = "KV-Operation"
SNAPSHOT_WAIT_SECS = 5.0


def removes_key(headers: dict[str, str] | None) -> bool:
    """Whether a message of a KV bucket's stream deletes or purges its key rather than storing a value."""
    return (headers or {}).get(KV_OPERATION) in _DELETED


async def snapshot(js: JetStreamContext, bucket: str, keys: str) -> dict[str, bytes]:
    """The values stored now under the keys ``keys`` matches (a KV key filter, e.g. ``tenant.>``).

    Not ``KeyValue.watch`` and its end marker: nats-py sends the marker once the server has *sent*
    every stored key (no messages pending), which can be before this client has read one of them, so a
    one-shot reader would sometimes take a full registry for an empty one. Here the consumer says how
    many messages it delivered and has pending, and that many are read.
    """
    prefix = f"$KV.{bucket}."
    sub = await js.subscribe(
        prefix + keys,
        stream=f"KV_{bucket}",
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
    )
    try:
        info = await sub.consumer_info()
        delivered = info.delivered.consumer_seq if info.delivered else None
        expected = (info.num_pending or 0) + (delivered or 0)
        entries: dict[str, bytes] = {}
        for _ in range(expected):
            msg = await sub.next_msg(timeout=SNAPSHOT_WAIT_SECS)
            key = msg.subject.removeprefix(prefix)
            if removes_key(msg.headers):
                entries.pop(key, None)
            else:
                entries[key] = msg.data
        return entries
    finally:
        await sub.unsubscribe()


@dataclass(frozen=True, slots=True)
class _Cached[T]:
    value: T
    revision: int


class WatchedBucket[T]:
    """The keys of one bucket that ``decode`` keeps, followed by a watch."""

    def __init__(self, js: JetStreamContext, bucket: str, decode: Decode[T]) -> None:
        self._js = js
        self._bucket = bucket
        self._decode = decode
        self._kv: KeyValue | None = None
        self._task: asyncio.Task[None] | None = None
        self._cache: dict[str, _Cached[T]] = {}
        self._seen = 0
        """Highest bucket revision delivered by the watch."""
        self._advanced = asyncio.Condition()
        self._ready = asyncio.Event()

    @property
    def kv(self) -> KeyValue:
        assert self._kv is not None, f"bucket {self._bucket} not started"
        return self._kv

    async def start(self) -> None:
        """Load every key, then keep following the bucket in the background."""
        self._kv = await self._js.key_value(self._bucket)
        self._task = asyncio.create_task(self._watch(), name=f"watch-{self._bucket}")
        try:
            await asyncio.wait_for(self._ready.wait(), WATCH_READY_SECS)
        except TimeoutError:
            await self.stop()
            raise RetryableError(f"bucket {self._bucket} did not load within {WATCH_READY_SECS:g}s") from None
        logger.info("bucket %s loaded: %d record(s)", self._bucket, len(self._cache))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # ---- reads (local copy) ---------------------------------------------------------------------------

    def get(self, key: str) -> T | None:
        cached = self._cache.get(key)
        return cached.value if cached is not None else None

    def values(self) -> list[T]:
        return [cached.value for cached in self._cache.values()]

    def items(self) -> list[tuple[str, T]]:
        return [(key, cached.value) for key, cached in self._cache.items()]

    def __len__(self) -> int:
        return len(self._cache)

    async def sync(self, timeout: float = SYNC_SECS) -> bool:
        """Wait until the local copy holds every write made to the bucket so far; False on timeout."""
        target = await self._bucket_revision()
        try:
            async with self._advanced:
                await asyncio.wait_for(self._advanced.wait_for(lambda: self._seen >= target), timeout)
        except TimeoutError:
            logger.warning("watch of %s is behind (at %d, bucket at %d)", self._bucket, self._seen, target)
            return False
        return True

    # ---- reads and writes of the bucket itself ------------------------------------------------------------

    async def read(self, key: str) -> tuple[T, int] | None:
        """The stored value and its revision, straight from the bucket; None if absent."""
        try:
            entry = await self.kv.get(key)
        except KeyNotFoundError:
            return None
        value = self._decode(key, entry.value or b"")
        if value is None:
            return None
        revision = int(entry.revision or 0)
        self.remember(key, value, revision)
        return value, revision

    async def create(self, key: str, value: T) -> int:
        """Store ``value`` under a key that must not exist yet; raises KeyWrongLastSequenceError."""
        revision = int(await self.kv.create(key, codec.encode(value)))
        self.remember(key, value, revision)
        return revision

    async def update(
        self, key: str, read: Callable[[], Awaitable[tuple[T, int]]], change: Callable[[T], T]
    ) -> T:
        """Apply ``change`` to what ``read`` returns (revision 0: not stored yet); retry on conflict."""
        for _ in range(MAX_CAS_ATTEMPTS):
            current, revision = await read()
            updated = change(current)
            data = codec.encode(updated)
            try:
                if revision == 0:
                    new_revision = await self.kv.create(key, data)
                else:
                    new_revision = await self.kv.update(key, data, last=revision)
            except KeyWrongLastSequenceError:
                logger.info("%s %s changed concurrently; applying the update again", self._bucket, key)
                continue
            self.remember(key, updated, int(new_revision))
            return updated
        raise RetryableError(f"{self._bucket} {key} kept changing; gave up after {MAX_CAS_ATTEMPTS} tries")

    def remember(self, key: str, value: T, revision: int) -> None:
        """Put a value this replica read or wrote into the copy, unless the copy has a newer one."""
        cached = self._cache.get(key)
        if cached is None or cached.revision < revision:
            self._cache[key] = _Cached(value, revision)

    # ---- following the bucket ------------------------------------------------------------------------------

    async def _watch(self) -> None:
        """Follow the bucket; start a new watch whenever the current one stops delivering.

        The watch is an ordered consumer kept in server memory: after a nats-server restart it is
        gone, and the client only notices after missed heartbeats. Comparing with the bucket's last
        revision notices within about two checks instead.
        """
        while True:
            try:
                watcher = await self.kv.watchall()
            except Exception as exc:  # NATS away: try again shortly
                logger.warning("cannot watch bucket %s (%s); retrying", self._bucket, exc)
                await asyncio.sleep(CHECK_SECS)
                continue
            follow = asyncio.create_task(self._follow(watcher), name=f"follow-{self._bucket}")
            try:
                await self._until_stalled()
            finally:
                follow.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await follow
                with contextlib.suppress(Exception):  # the connection may already be gone
                    await watcher.stop()  # type: ignore[no-untyped-call]
            logger.warning(
                "watch of %s stopped delivering at revision %d; starting a new one", self._bucket, self._seen
            )

    async def _until_stalled(self) -> None:
        behind: int | None = None  # a bucket revision the watch had not reached at the previous check
        while True:
            await asyncio.sleep(CHECK_SECS)
            try:
                target = await self._bucket_revision()
            except Exception:  # NATS away: nothing to compare with
                continue
            if behind is not None and self._seen < behind:
                return
            behind = target if self._seen < target else None

    async def _bucket_revision(self) -> int:
        info = await self._js.stream_info(f"KV_{self._bucket}")
        return int(info.state.last_seq)

    async def _follow(self, watcher: KeyValue.KeyWatcher) -> None:
        async for entry in watcher:
            if entry is None:  # the watch has delivered everything stored when it began
                self._ready.set()
                continue
            self._apply(entry)
            async with self._advanced:
                self._seen = max(self._seen, int(entry.revision or 0))
                self._advanced.notify_all()

    def _apply(self, entry: KeyValue.Entry) -> None:
        key, revision = entry.key, int(entry.revision or 0)
        cached = self._cache.get(key)
        if cached is not None and cached.revision >= revision:
            return
        if entry.operation in _DELETED:
            self._cache.pop(key, None)
            return
        try:
            value = self._decode(key, entry.value or b"")
        except JamjetError as exc:
            logger.error(
                "ignoring unreadable record %s/%s (revision %d): %s", self._bucket, key, revision, exc
            )
            return
        if value is not None:
            self._cache[key] = _Cached(value, revision)
