"""Tenants, kept in the JetStream KV bucket ``jamjet_tenants`` (key = tenant id).

Reads come from an in-memory copy that a KV watch keeps current, so a policy evaluation never waits on
the bucket. Writes are compare-and-set on the key's revision: two replicas updating the same tenant at
once cannot lose each other's change; the loser re-reads and applies its change again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from jamjet_common import codec
from jamjet_common.errors import ContractError, RetryableError
from jamjet_common.ir import PolicySetIr
from jamjet_common.messages import DEFAULT_TENANT
from jamjet_common.streams import KV_TENANTS
from services.policy.errors import TenantExistsError, UnknownTenantError

logger = logging.getLogger(__name__)

TenantStatus = Literal["active", "suspended", "archived"]
KV_STREAM = f"KV_{KV_TENANTS}"
MAX_CAS_ATTEMPTS = 20
WATCH_READY_SECS = 10.0
SYNC_SECS = 2.0
CHECK_SECS = 1.0
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DELETED = frozenset({"DEL", "PURGE"})


class Tenant(msgspec.Struct, frozen=True, kw_only=True):
    """A tenant record, as stored and as returned by the tenant commands."""

    id: str
    name: str
    status: TenantStatus = "active"
    policy: PolicySetIr | None = None
    """Applied to every node of the tenant's executions, below workflow and node policies."""
    limits: dict[str, Any] | None = None
    created_at: datetime
    updated_at: datetime

    @property
    def active(self) -> bool:
        return self.status == "active"


def implicit_default() -> Tenant:
    """The ``default`` tenant as it is until someone stores it: active, no policy."""
    return Tenant(id=DEFAULT_TENANT, name=DEFAULT_TENANT, created_at=EPOCH, updated_at=EPOCH)


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class _Cached:
    tenant: Tenant
    revision: int


class TenantStore:
    """The tenants of the bucket: a watched local copy for reads, CAS writes to the bucket."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js
        self._kv: KeyValue | None = None
        self._task: asyncio.Task[None] | None = None
        self._cache: dict[str, _Cached] = {}
        self._seen = 0
        """Highest bucket revision delivered by the watch."""
        self._advanced = asyncio.Condition()
        self._ready = asyncio.Event()

    @property
    def kv(self) -> KeyValue:
        assert self._kv is not None, "tenant store not started"
        return self._kv

    async def start(self) -> None:
        """Load every tenant, then keep following the bucket in the background."""
        self._kv = await self._js.key_value(KV_TENANTS)
        self._task = asyncio.create_task(self._watch(), name="policy-tenant-watch")
        try:
            await asyncio.wait_for(self._ready.wait(), WATCH_READY_SECS)
        except TimeoutError:
            await self.stop()
            raise RetryableError(
                f"tenant bucket {KV_TENANTS} did not load within {WATCH_READY_SECS:g}s"
            ) from None
        logger.info("tenant store loaded %d tenant(s)", len(self._cache))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # ---- reads (local copy) ---------------------------------------------------------------------------

    def get(self, tenant_id: str) -> Tenant | None:
        cached = self._cache.get(tenant_id)
        if cached is not None:
            return cached.tenant
        return implicit_default() if tenant_id == DEFAULT_TENANT else None

    def all(self) -> list[Tenant]:
        tenants = {t.tenant.id: t.tenant for t in self._cache.values()}
        tenants.setdefault(DEFAULT_TENANT, implicit_default())
        return [tenants[key] for key in sorted(tenants)]

    async def sync(self, timeout: float = SYNC_SECS) -> bool:
        """Wait until the local copy holds every write made to the bucket so far; False on timeout."""
        target = await self._bucket_revision()
        try:
            async with self._advanced:
                await asyncio.wait_for(self._advanced.wait_for(lambda: self._seen >= target), timeout)
        except TimeoutError:
            logger.warning("tenant watch is behind (at %d, bucket at %d)", self._seen, target)
            return False
        return True

    # ---- writes (compare-and-set on the bucket) -----------------------------------------------------------

    async def create(self, tenant: Tenant) -> Tenant:
        if tenant.id == DEFAULT_TENANT:
            raise TenantExistsError(f"tenant '{DEFAULT_TENANT}' always exists; use update to change it")
        try:
            revision = await self.kv.create(tenant.id, codec.encode(tenant))
        except KeyWrongLastSequenceError:
            raise TenantExistsError(f"tenant '{tenant.id}' already exists") from None
        self._remember(tenant, revision)
        return tenant

    async def update(self, tenant_id: str, change: Callable[[Tenant], Tenant]) -> Tenant:
        """Apply ``change`` to the stored tenant; re-read and re-apply if someone else wrote first."""
        for _ in range(MAX_CAS_ATTEMPTS):
            current, revision = await self.read(tenant_id)
            updated = change(current)
            try:
                if revision == 0:
                    new_revision = await self.kv.create(tenant_id, codec.encode(updated))
                else:
                    new_revision = await self.kv.update(tenant_id, codec.encode(updated), last=revision)
            except KeyWrongLastSequenceError:
                logger.info("tenant %s changed concurrently; applying the update again", tenant_id)
                continue
            self._remember(updated, new_revision)
            return updated
        raise RetryableError(f"tenant '{tenant_id}' kept changing; gave up after {MAX_CAS_ATTEMPTS} tries")

    async def read(self, tenant_id: str) -> tuple[Tenant, int]:
        """The stored tenant and its revision (0 for the implicit default), straight from the bucket."""
        try:
            entry = await self.kv.get(tenant_id)
        except KeyNotFoundError:
            if tenant_id == DEFAULT_TENANT:
                return implicit_default(), 0
            raise UnknownTenantError(f"tenant '{tenant_id}' does not exist") from None
        tenant = _decode(entry.value or b"", tenant_id)
        revision = int(entry.revision or 0)
        self._remember(tenant, revision)
        return tenant, revision

    # ---- following the bucket ------------------------------------------------------------------------------

    def _remember(self, tenant: Tenant, revision: int) -> None:
        cached = self._cache.get(tenant.id)
        if cached is None or cached.revision < revision:
            self._cache[tenant.id] = _Cached(tenant, revision)

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
                logger.warning("cannot watch tenant bucket (%s); retrying", exc)
                await asyncio.sleep(CHECK_SECS)
                continue
            follow = asyncio.create_task(self._follow(watcher), name="policy-tenant-follow")
            try:
                await self._until_stalled()
            finally:
                follow.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await follow
                with contextlib.suppress(Exception):  # the connection may already be gone
                    await watcher.stop()  # type: ignore[no-untyped-call]
            logger.warning("tenant watch stopped delivering at revision %d; starting a new one", self._seen)

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
        info = await self._js.stream_info(KV_STREAM)
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
            self._cache[key] = _Cached(_decode(entry.value or b"", key), revision)
        except ContractError as exc:
            logger.error("ignoring unreadable tenant record %s (revision %d): %s", key, revision, exc)


def _decode(data: bytes, tenant_id: str) -> Tenant:
    return codec.decode(data, Tenant, what=f"record of tenant '{tenant_id}'")
