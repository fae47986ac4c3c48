"""Facts of the workflow catalog shared by scheduler and event store: ids, versions, KV keys, order.

Workflow ids and names are what the original accepts: any non-empty string of at most 256 characters
without control characters (``"support bot"``, ``"acme.support"``). They are never subject tokens.
In the ``jamjet_workflows`` bucket a key is ``<tenant>.<workflow id>.v.<version>`` or
``<tenant>.<workflow id>.latest``; an id that is a subject token stands as it is, any other is
``=`` + its UTF-8 in unpadded base64url (no token id starts with ``=``). A version of dot-separated
``[A-Za-z0-9+-]`` parts starting with a letter or digit stands as it is with ``+`` written ``=``;
any other is ``=`` + base64url. Both encodings are reversible.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence

from jamjet_common.errors import ContractError
from jamjet_common.subjects import TOKEN_RE

MAX_NAME = 256
MAX_VERSION = 128
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_PLAIN_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9+-]*(\.[A-Za-z0-9+-]+)*")
_SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?")
_ENCODED = "="


class InvalidWorkflowIdError(ContractError):
    code = "invalid_workflow_id"


def name_problem(value: object, what: str, limit: int = MAX_NAME) -> str | None:
    """Why ``value`` cannot be a workflow id, name or version; None if it can."""
    if not isinstance(value, str) or not value:
        return f"{what} must be a non-empty string"
    if len(value) > limit:
        return f"{what} {value[:40]!r}... is longer than {limit} characters"
    if _CONTROL.search(value):
        return f"{what} {value[:60]!r} contains control characters"
    return None


def check_workflow_id(value: str, what: str = "workflow_id") -> str:
    """``value`` if it can be a workflow id, else an ``invalid_workflow_id`` error saying why."""
    problem = name_problem(value, what)
    if problem is not None:
        raise InvalidWorkflowIdError(problem)
    return value


def is_semver(version: str) -> bool:
    return _SEMVER.fullmatch(version) is not None


def semver_key(version: str) -> tuple[int, int, int, int, str]:
    """Order of two semantic versions: numeric core, then a release above its pre-releases."""
    match = _SEMVER.fullmatch(version)
    core = (int(match.group(1)), int(match.group(2)), int(match.group(3))) if match else (0, 0, 0)
    release = 0 if match and match.group(4) else 1
    return core[0], core[1], core[2], release, version


def supersedes(candidate: str, current: str) -> bool:
    """Whether ``candidate``, registered after ``current``, becomes "latest": by semantic version
    where both parse, else by registration order (the later one)."""
    if is_semver(candidate) and is_semver(current):
        return semver_key(candidate) > semver_key(current)
    return True


def latest(versions_in_registration_order: Sequence[str]) -> str:
    """The "latest" of (at least one) versions registered in this order, as the catalog's pointer moves."""
    found = versions_in_registration_order[0]
    for version in versions_in_registration_order[1:]:
        if supersedes(version, found):
            found = version
    return found


def _encode(value: str) -> str:
    return _ENCODED + base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def _decode(token: str) -> str:
    body = token[len(_ENCODED) :]
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ContractError(f"catalog key part {token[:60]!r} is not a readable encoding") from None


def id_key(workflow_id: str) -> str:
    return workflow_id if TOKEN_RE.fullmatch(workflow_id) else _encode(workflow_id)


def id_from_key(token: str) -> str:
    return _decode(token) if token.startswith(_ENCODED) else token


def version_key(version: str) -> str:
    return version.replace("+", "=") if _PLAIN_VERSION.fullmatch(version) else _encode(version)


def version_from_key(part: str) -> str:
    return _decode(part) if part.startswith(_ENCODED) else part.replace("=", "+")


def record_key(tenant: str, workflow_id: str, version: str) -> str:
    return f"{tenant}.{id_key(workflow_id)}.v.{version_key(version)}"


def latest_key(tenant: str, workflow_id: str) -> str:
    return f"{tenant}.{id_key(workflow_id)}.latest"


def parse_record_key(key: str) -> tuple[str, str, str] | None:
    """``(tenant, workflow id, version)`` of a version key; None for other keys (``latest`` pointers)."""
    parts = key.split(".", 3)
    if len(parts) != 4 or parts[2] != "v":
        return None
    return parts[0], id_from_key(parts[1]), version_from_key(parts[3])
