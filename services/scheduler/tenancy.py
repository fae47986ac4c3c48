"""Admission of a tenant's commands: the tenant exists, is active, and is within its limits.

Limits (``max_concurrent_executions``, ``max_tokens_per_month``, ``max_cost_per_month_usd``) are
checked at start against the event store's usage figures; if the store cannot answer, a limited
tenant's start is refused rather than let through unchecked.
"""

from __future__ import annotations

import json
from typing import Any

from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

from jamjet_common import subjects
from jamjet_common.coalesce import Coalesced
from jamjet_common.errors import ContractError, RetryableError, UnknownTenantError
from jamjet_common.messages import DEFAULT_TENANT
from jamjet_common.records import Tenant, TenantLimits, implicit_default, read_record
from jamjet_common.streams import KV_TENANTS

USAGE_TIMEOUT_SECS = 3.0


class TenantGate:
    def __init__(self, nc: Client, tenants: KeyValue) -> None:
        self._nc = nc
        self._reads = Coalesced(tenants.get)  # a burst of starts asks for the same tenant at once
        self._decoded: dict[str, tuple[int | None, Tenant]] = {}

    async def active(self, tenant: str) -> Tenant:
        try:
            entry = await self._reads.get(tenant)
        except KeyNotFoundError:
            if tenant == DEFAULT_TENANT:
                return implicit_default()
            raise UnknownTenantError(f"tenant '{tenant}' does not exist") from None
        record = self._record(tenant, entry.revision, entry.value or b"")
        if not record.active:
            raise ContractError(f"tenant '{tenant}' is {record.status}", code="tenant_suspended")
        return record

    def _record(self, tenant: str, revision: int | None, value: bytes) -> Tenant:
        """The tenant's record, decoded once per revision (a burst reads one revision thousands of times)."""
        known = self._decoded.get(tenant)
        if known is not None and revision is not None and known[0] == revision:
            return known[1]
        record = read_record(KV_TENANTS, tenant, value, Tenant)
        self._decoded[tenant] = (revision, record)
        return record

    async def admit(self, tenant: str) -> None:
        """Raise unless ``tenant`` may start another execution now."""
        limits = (await self.active(tenant)).typed_limits
        if limits == TenantLimits():
            return
        usage = await self._usage(tenant)
        for what, current, limit in (
            ("running executions", usage.get("running_executions", 0), limits.max_concurrent_executions),
            ("tokens this month", usage.get("tokens_this_month", 0), limits.max_tokens_per_month),
            ("cost this month (USD)", usage.get("cost_usd_this_month", 0.0), limits.max_cost_per_month_usd),
        ):
            if limit is not None and current >= limit:
                raise ContractError(
                    f"tenant '{tenant}' is at its limit: {what} {current:g} of {limit:g}",
                    code="tenant_limit_exceeded",
                )

    async def _usage(self, tenant: str) -> dict[str, Any]:
        body = json.dumps({"tenant": tenant}).encode()
        try:
            reply = await self._nc.request(subjects.store("tenant_usage"), body, timeout=USAGE_TIMEOUT_SECS)
        except (TimeoutError, NoRespondersError):
            raise RetryableError(
                f"tenant '{tenant}' has limits but its usage cannot be read now; try again",
                code="limits_unavailable",
            ) from None
        usage: dict[str, Any] = json.loads(reply.data)
        if not usage.get("ok"):
            raise RetryableError(
                f"usage of tenant '{tenant}' unavailable: {usage}", code="limits_unavailable"
            )
        return usage
