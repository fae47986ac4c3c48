"""Secrets for outgoing requests, by name, through the operator's mapping only.

The IR names a secret (a tool's ``permissions: ["env:NAME"]``, an auth's ``token_env``/``key_env``);
the operator maps names to the environment variables that hold them:

- ``JAMJET_SECRET_<NAME>=<VARIABLE>``: secret ``NAME`` is ``$VARIABLE``, for every tenant;
- ``JAMJET_SECRETS_FILE``: a JSON object of tenant -> {name: variable}; the tenant ``"*"`` is every
  tenant. A tenant's own entries win over ``"*"``, which wins over ``JAMJET_SECRET_<NAME>``.

A name the mapping does not have is refused (``Refused``): the IR can never read an arbitrary
variable of the worker's environment. Values are read when a request is made, so that a rotated
variable applies at once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jamjet_common.config import ConfigError, Env
from jamjet_common.errors import FatalError
from services.worker.sandbox.refusal import SECRET, Refused

PREFIX = "JAMJET_SECRET_"
FILE_VARIABLE = "JAMJET_SECRETS_FILE"
EVERY_TENANT = "*"


@dataclass(frozen=True, slots=True)
class SecretMap:
    by_tenant: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """tenant (or ``*``) -> secret name -> environment variable."""

    @classmethod
    def from_env(cls, env: Env) -> SecretMap:
        shared = {name.removeprefix(PREFIX): variable for name, variable in env.prefixed(PREFIX).items()}
        by_tenant: dict[str, dict[str, str]] = {EVERY_TENANT: shared}
        for tenant, names in _file(env.text(FILE_VARIABLE, "")).items():
            by_tenant.setdefault(tenant, {}).update(names)
        return cls(by_tenant)

    def variable(self, tenant: str | None, name: str) -> str | None:
        own = self.by_tenant.get(tenant, {}) if tenant is not None else {}
        return own.get(name) or self.by_tenant.get(EVERY_TENANT, {}).get(name)


@dataclass(frozen=True, slots=True)
class Secrets:
    """The mapping and where the values are (the worker's environment)."""

    mapping: SecretMap
    environ: Mapping[str, str]

    def value(self, tenant: str | None, name: str, where: str) -> str:
        variable = self.mapping.variable(tenant, name)
        if variable is None:
            raise Refused(
                f"{where}: secret '{name}' is not one this worker gives out (the operator maps secrets with "
                f"{PREFIX}<NAME> or {FILE_VARIABLE}; the IR cannot name environment variables)",
                rule=SECRET,
            )
        value = self.environ.get(variable, "").strip()
        if not value:
            raise FatalError(f"{where}: secret '{name}' maps to {variable}, which is not set on this worker")
        return value


def _file(path: str) -> dict[str, dict[str, str]]:
    if not path:
        return {}
    try:
        data: Any = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{FILE_VARIABLE}={path!r} cannot be read as JSON: {exc}") from None
    if not isinstance(data, dict) or not all(_is_mapping(names) for names in data.values()):
        raise ConfigError(f"{FILE_VARIABLE}={path!r} is not an object of tenant -> {{name: variable}}")
    return {str(tenant): dict(names) for tenant, names in data.items()}


def _is_mapping(names: Any) -> bool:
    return isinstance(names, dict) and all(isinstance(v, str) and v for v in names.values())
