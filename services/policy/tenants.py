"""Tenants, kept in the JetStream KV bucket ``jamjet_tenants`` (key = tenant id), read from a watched
local copy (see :mod:`jamjet_common.bucket`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from nats.js import JetStreamContext
from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from jamjet_common.errors import TenantExistsError, UnknownTenantError
from jamjet_common.messages import DEFAULT_TENANT
from jamjet_common.records import Tenant, implicit_default
from jamjet_common.tenant_view import TenantView


def now() -> datetime:
    return datetime.now(UTC)


class TenantStore:
    """The tenants of the bucket: a watched local copy for reads, CAS writes to the bucket."""

    def __init__(self, js: JetStreamContext) -> None:
        self._view = TenantView(js)
        self._bucket = self._view.bucket

    @property
    def kv(self) -> KeyValue:
        return self._bucket.kv

    async def start(self) -> None:
        await self._bucket.start()

    async def stop(self) -> None:
        await self._bucket.stop()

    # ---- reads (local copy) ---------------------------------------------------------------------------

    def get(self, tenant_id: str) -> Tenant | None:
        return self._view.get(tenant_id)

    def all(self) -> list[Tenant]:
        tenants = {t.id: t for t in self._bucket.values()}
        tenants.setdefault(DEFAULT_TENANT, implicit_default())
        return [tenants[key] for key in sorted(tenants)]

    async def sync(self) -> bool:
        """Wait until the local copy holds every write made to the bucket so far; False on timeout."""
        return await self._bucket.sync()

    # ---- writes (compare-and-set on the bucket) -----------------------------------------------------------

    async def create(self, tenant: Tenant) -> Tenant:
        if tenant.id == DEFAULT_TENANT:
            raise TenantExistsError(f"tenant '{DEFAULT_TENANT}' always exists; use update to change it")
        try:
            await self._bucket.create(tenant.id, tenant)
        except KeyWrongLastSequenceError:
            raise TenantExistsError(f"tenant '{tenant.id}' already exists") from None
        return tenant

    async def update(self, tenant_id: str, change: Callable[[Tenant], Tenant]) -> Tenant:
        """Apply ``change`` to the stored tenant; re-read and re-apply if someone else wrote first."""
        return await self._bucket.update(tenant_id, lambda: self.read(tenant_id), change)

    async def read(self, tenant_id: str) -> tuple[Tenant, int]:
        """The stored tenant and its revision (0 for the implicit default), straight from the bucket."""
        found = await self._bucket.read(tenant_id)
        if found is not None:
            return found
        if tenant_id == DEFAULT_TENANT:
            return implicit_default(), 0
        raise UnknownTenantError(f"tenant '{tenant_id}' does not exist")
