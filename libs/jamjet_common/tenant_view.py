"""The tenants of KV ``jamjet_tenants`` as a read-only local copy, followed by a watch.

The policy service keeps such a copy to judge; a worker keeps one to know when no tenant policy can
apply to a node (``policy_free.py``). Both see a change once the watch delivers it.
"""

from __future__ import annotations

from nats.js import JetStreamContext

from jamjet_common.bucket import WatchedBucket
from jamjet_common.records import Tenant, known_tenant, read_record
from jamjet_common.streams import KV_TENANTS


def decode_tenant(tenant_id: str, data: bytes) -> Tenant:
    return read_record(KV_TENANTS, tenant_id, data, Tenant)


class TenantView:
    def __init__(self, js: JetStreamContext) -> None:
        self.bucket = WatchedBucket(js, KV_TENANTS, decode_tenant)

    async def start(self) -> None:
        await self.bucket.start()

    async def stop(self) -> None:
        await self.bucket.stop()

    def get(self, tenant_id: str) -> Tenant | None:
        return known_tenant(self.bucket.get(tenant_id), tenant_id)
