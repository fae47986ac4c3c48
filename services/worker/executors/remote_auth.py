"""HTTP headers for the IR's ``auth`` of remote agents and MCP servers; secrets come from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping

from jamjet_common.errors import FatalError
from jamjet_common.ir import ApiKeyAuth, Auth, BearerAuth


def auth_headers(auth: Auth | None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Read when a node runs, so that a rotated secret takes effect without a restart."""
    env = os.environ if environ is None else environ
    if auth is None:
        return {}
    if isinstance(auth, BearerAuth):
        return {"Authorization": f"Bearer {_secret(env, auth.token_env)}"}
    if isinstance(auth, ApiKeyAuth):
        return {auth.header: _secret(env, auth.key_env)}
    raise FatalError(f"auth type '{auth.__struct_config__.tag}' is not supported for remote calls")


def _secret(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise FatalError(f"environment variable {name} (named by the IR's auth) is not set on this worker")
    return value
