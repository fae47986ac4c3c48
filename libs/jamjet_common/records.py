"""The records kept in the KV buckets: one schema each, for the service that writes and every reader.

A writer builds its record through the schema, so a value that breaks it is refused where it is written
(``invalid_tenant`` names the field and the type it needs). Every reader decodes with the same schema
through :func:`read_record`; a value that still does not fit (put there by hand, or by another version)
is an ``unreadable_record`` error, which the router's poison policy retries and then gives up on: it
never blocks a consumer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec

from jamjet_common.agent_card import AgentCard
from jamjet_common.codec import decoder
from jamjet_common.errors import InvalidTenantError, UnreadableRecordError
from jamjet_common.ir import PolicySetIr
from jamjet_common.messages import DEFAULT_TENANT

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Count = Annotated[int, msgspec.Meta(ge=0)]
Usd = Annotated[float, msgspec.Meta(ge=0)]
TenantStatus = Literal["active", "suspended", "archived"]
AgentStatus = Literal["registered", "active", "paused", "deactivated", "archived"]


class _Record(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    pass


# ---- jamjet_tenants: key = tenant id -------------------------------------------------------------------


class TenantLimits(_Record, frozen=True):
    """The limits a tenant record's ``limits`` may hold, with their types (the original's TenantLimits)."""

    max_concurrent_executions: Count | None = None
    max_workflows: Count | None = None
    max_tokens_per_month: Count | None = None
    max_cost_per_month_usd: Usd | None = None


_LIMIT_TYPES = {field.name: field.type for field in msgspec.structs.fields(TenantLimits)}


def tenant_limits(limits: Mapping[str, Any] | None) -> TenantLimits:
    """The known limits of ``limits``, typed; raises TypeError naming the field and the type it needs."""
    known: dict[str, Any] = {}
    for name, value in (limits or {}).items():
        if name in _LIMIT_TYPES:
            try:
                known[name] = msgspec.convert(value, _LIMIT_TYPES[name])
            except msgspec.ValidationError as exc:
                raise TypeError(f"limits.{name}: {exc}") from None
    return TenantLimits(**known)


class Tenant(msgspec.Struct, frozen=True, kw_only=True):
    """A tenant record, as stored and as returned by the tenant commands."""

    id: str
    name: str
    status: TenantStatus = "active"
    policy: PolicySetIr | None = None
    """Applied to every node of the tenant's executions, below workflow and node policies."""
    limits: dict[str, Any] | None = None
    """Keys other than :class:`TenantLimits`' are kept as given (and not enforced)."""
    created_at: datetime
    updated_at: datetime

    def __post_init__(self) -> None:
        # Runs on construction, on msgspec.structs.replace and on decoding: a record with a limit of
        # the wrong type can neither be built to be written nor be read.
        tenant_limits(self.limits)

    @property
    def active(self) -> bool:
        return self.status == "active"

    @property
    def typed_limits(self) -> TenantLimits:
        return tenant_limits(self.limits)


def implicit_default() -> Tenant:
    """The ``default`` tenant as it is until someone stores it: active, no policy, no limits."""
    return Tenant(id=DEFAULT_TENANT, name=DEFAULT_TENANT, created_at=EPOCH, updated_at=EPOCH)


def known_tenant(stored: Tenant | None, tenant_id: str) -> Tenant | None:
    """The tenant ``tenant_id`` given its stored record: the implicit ``default`` if none is stored."""
    if stored is None and tenant_id == DEFAULT_TENANT:
        return implicit_default()
    return stored


def new_tenant(**fields: Any) -> Tenant:
    """A tenant record to write; raises ``invalid_tenant`` naming the field that breaks the schema."""
    try:
        return Tenant(**fields)
    except (TypeError, ValueError) as exc:
        raise InvalidTenantError(f"tenant '{fields.get('id')}': {exc}") from None


def changed_tenant(tenant: Tenant, **changes: Any) -> Tenant:
    """``tenant`` with ``changes``; raises ``invalid_tenant`` naming the field that breaks the schema."""
    try:
        return msgspec.structs.replace(tenant, **changes)
    except (TypeError, ValueError) as exc:
        raise InvalidTenantError(f"tenant '{tenant.id}': {exc}") from None


# ---- jamjet_agents: <tenant>.agent.<agent id> (and <tenant>.uri.<sha256> -> owner id) -------------------

AGENT_RECORD = "agent"
AGENT_URI = "uri"


def agent_key(tenant: str, agent_id: str) -> str:
    """The key of an agent record: each tenant has its own registry, in one bucket."""
    return f"{tenant}.{AGENT_RECORD}.{agent_id}"


def agent_uri_key(tenant: str, uri: str) -> str:
    """The key holding the id of the agent that owns ``uri`` in ``tenant``'s registry; a record it does
    not name is not live."""
    return f"{tenant}.{AGENT_URI}.{hashlib.sha256(uri.encode()).hexdigest()}"


def agent_keys_of(tenant: str) -> str:
    """Every key of ``tenant``'s registry (a KV watch filter)."""
    return f"{tenant}.>"


def parse_agent_key(key: str) -> tuple[str, str, str] | None:
    """``(tenant, "agent" | "uri", id or uri hash)``; None for a key of no registry (written before
    registries were per tenant, or by hand)."""
    parts = key.split(".")
    if len(parts) != 3 or parts[1] not in (AGENT_RECORD, AGENT_URI):
        return None
    return parts[0], parts[1], parts[2]


class Agent(msgspec.Struct, frozen=True, kw_only=True):
    """An agent record, as stored and as returned by the agent commands."""

    id: str
    card: AgentCard
    status: AgentStatus = "registered"
    registered_at: datetime
    updated_at: datetime
    last_heartbeat: datetime | None = None

    @property
    def uri(self) -> str:
        return self.card.uri


# ---- jamjet_workflows: <tenant>.<workflow_id>.v.<version> and <tenant>.<workflow_id>.latest ------------


class WorkflowRecord(_Record, frozen=True):
    """A registered workflow version, as kept under ``<tenant>.<workflow_id>.v.<version>``."""

    tenant: str
    workflow_id: str
    version: str
    ir: msgspec.Raw
    registered_at: datetime
    warnings: list[str] = []
    """What registration noticed but accepted (unreachable nodes, unknown retry policy names, ...)."""


class LatestVersion(_Record, frozen=True):
    """The highest registered version, kept under ``<tenant>.<workflow_id>.latest``."""

    version: str


# ---- reading ---------------------------------------------------------------------------------------------


def read_record[R](bucket: str, key: str, data: bytes, type_: type[R]) -> R:
    """Decode a stored record with its schema, or raise ``unreadable_record`` naming bucket, key, problem."""
    try:
        return decoder(type_).decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise UnreadableRecordError(
            f"record {key!r} of bucket {bucket} does not fit its schema: {exc}"
        ) from None
