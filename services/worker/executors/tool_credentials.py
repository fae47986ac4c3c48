"""The credentials an ``http`` tool sends, from the secrets its ``permissions`` name.

- ``"env:SEARCH"`` sends ``Authorization: Bearer <secret SEARCH>``;
- ``"env:SEARCH:X-Api-Key"`` sends ``X-Api-Key: <secret SEARCH>``.

``SEARCH`` is a secret name in the operator's mapping (``sandbox/secrets.py``), never an environment
variable of the worker: an unmapped name is refused. Other permission entries are not for this
executor and are ignored.
"""

from __future__ import annotations

import re

from jamjet_common.errors import FatalError
from services.worker.sandbox.secrets import Secrets

_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")


def auth_headers(tool_ref: str, permissions: list[str], secrets: Secrets, tenant: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for permission in permissions:
        if permission.startswith("env:"):
            name, value = _credential(tool_ref, permission, secrets, tenant)
            headers[name] = value
    return headers


def _credential(tool_ref: str, permission: str, secrets: Secrets, tenant: str) -> tuple[str, str]:
    secret, _, header = permission.removeprefix("env:").partition(":")
    if header and not _HEADER_NAME.match(header):
        raise FatalError(f"tool '{tool_ref}': permission {permission!r} names an invalid header")
    if not secret:
        raise FatalError(f"tool '{tool_ref}': permission {permission!r} names no secret")
    value = secrets.value(tenant, secret, f"tool '{tool_ref}' (permission {permission!r})")
    return (header, value) if header else ("Authorization", f"Bearer {value}")
