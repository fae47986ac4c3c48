"""HTTP headers for the IR's ``auth`` of remote agents and MCP servers.

``token_env`` and ``key_env`` name secrets in the operator's mapping (``sandbox/secrets.py``), not
environment variables: an unmapped name is refused. Without ``secrets``, the mapping and the values
come from the process environment, read at each call so that a rotated secret applies at once.
"""

from __future__ import annotations

from jamjet_common.config import Env
from jamjet_common.errors import FatalError
from jamjet_common.ir import ApiKeyAuth, Auth, BearerAuth
from services.worker.sandbox.secrets import SecretMap, Secrets


def auth_headers(
    auth: Auth | None, secrets: Secrets | None = None, tenant: str | None = None
) -> dict[str, str]:
    if auth is None:
        return {}
    if secrets is None:
        env = Env()
        secrets = Secrets(SecretMap.from_env(env), env.environ)
    where = f"auth '{auth.__struct_config__.tag}'"
    if isinstance(auth, BearerAuth):
        return {"Authorization": f"Bearer {secrets.value(tenant, auth.token_env, where)}"}
    if isinstance(auth, ApiKeyAuth):
        return {auth.header: secrets.value(tenant, auth.key_env, where)}
    raise FatalError(f"auth type '{auth.__struct_config__.tag}' is not supported for remote calls")
