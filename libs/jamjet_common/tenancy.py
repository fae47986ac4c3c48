"""The tenant a request acts for, taken from the subject NATS delivered it on.

A tenant's account reaches the services only through service imports that map its subjects into
``jamjet.tenant.<t>.…`` (see docs/security.md). A handler calls :func:`bind_tenant` first: it gets the
plain subject back and a body whose ``tenant`` is the subject's, so the code after it is the same for a
tenant's request and for a trusted client's in the service account (which may name any tenant).
"""

from __future__ import annotations

from typing import Any

import msgspec

from jamjet_common import subjects
from jamjet_common.errors import TenantMismatchError


def bind_tenant(subject: str, data: bytes) -> tuple[str, bytes]:
    """``(plain subject, body acting for the subject's tenant)``; unchanged for an unscoped subject.

    Raises :class:`TenantMismatchError` if the body names another tenant than the subject.
    """
    tenant, plain = subjects.tenant_from_subject(subject)
    if tenant is None:
        return subject, data
    return plain, _with_tenant(data, tenant)


def _with_tenant(data: bytes, tenant: str) -> bytes:
    try:
        body: Any = msgspec.json.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return data  # the handler's own decoder names the problem
    if not isinstance(body, dict):
        return data
    named = body.get("tenant")
    if named is not None and named != tenant:
        raise TenantMismatchError(
            f"this connection acts for tenant {tenant!r}; the request names {str(named)[:60]!r}"
        )
    body["tenant"] = tenant
    return msgspec.json.encode(body)
