"""The tenant commands (``jamjet.cmd.tenants.<action>``): their bodies and what each one does."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import msgspec
from msgspec import UNSET, UnsetType

from jamjet_common import subjects
from jamjet_common.ir import PolicySetIr
from jamjet_common.records import Tenant, TenantStatus, changed_tenant, new_tenant
from jamjet_common.router import Handler, fields
from services.policy.dispatch import decode_body
from services.policy.tenants import TenantStore, now

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
Limits = dict[str, Any]


class _Body(msgspec.Struct, frozen=True, kw_only=True):
    pass


B = TypeVar("B", bound=_Body)


class CreateTenant(_Body, frozen=True):
    id: str
    name: Name | None = None
    """Defaults to the id."""
    policy: PolicySetIr | None = None
    limits: Limits | None = None


class UpdateTenant(_Body, frozen=True):
    """Fields left out stay as they are; ``"policy": null`` removes the tenant's policy."""

    id: str
    name: Name | UnsetType = UNSET
    policy: PolicySetIr | UnsetType | None = UNSET
    limits: Limits | UnsetType | None = UNSET
    status: TenantStatus | UnsetType = UNSET


class TenantRef(_Body, frozen=True):
    id: str


class ListTenants(_Body, frozen=True):
    pass


@dataclasses.dataclass(frozen=True, slots=True)
class TenantCommands:
    """Executes tenant commands against the store; each returns the success reply's fields."""

    store: TenantStore

    def routes(self) -> dict[str, Handler]:
        """The actions and their handlers, for the router."""
        actions = {
            "create": self.create,
            "update": self.update,
            "suspend": self.suspend,
            "get": self.get,
            "list": self.list,
        }
        return {action: fields(handle) for action, handle in actions.items()}

    async def create(self, data: bytes) -> dict[str, Any]:
        body = self._decode(data, CreateTenant, "create")
        at = now()
        tenant = new_tenant(
            id=body.id,
            name=body.name or body.id,
            policy=body.policy,
            limits=body.limits,
            created_at=at,
            updated_at=at,
        )
        return {"tenant": await self.store.create(tenant)}

    async def update(self, data: bytes) -> dict[str, Any]:
        body = self._decode(data, UpdateTenant, "update")
        changes = {
            field: value
            for field in ("name", "policy", "limits", "status")
            if (value := getattr(body, field)) is not UNSET
        }
        return {"tenant": await self.store.update(body.id, _changed(changes))}

    async def suspend(self, data: bytes) -> dict[str, Any]:
        body = self._decode(data, TenantRef, "suspend")
        return {"tenant": await self.store.update(body.id, _changed({"status": "suspended"}))}

    async def get(self, data: bytes) -> dict[str, Any]:
        body = self._decode(data, TenantRef, "get")
        tenant, _ = await self.store.read(body.id)
        return {"tenant": tenant}

    async def list(self, data: bytes) -> dict[str, Any]:
        self._decode(data, ListTenants, "list")
        await self.store.sync()
        return {"tenants": self.store.all()}

    def _decode(self, data: bytes, type_: type[B], action: str) -> B:
        body = decode_body(data, type_, f"tenants.{action} command")
        if isinstance(body, CreateTenant | UpdateTenant | TenantRef):
            subjects.check_token(body.id, "tenant id")
        return body


def _changed(changes: dict[str, Any]) -> Callable[[Tenant], Tenant]:
    def change(tenant: Tenant) -> Tenant:
        return changed_tenant(tenant, **changes, updated_at=now())

    return change
