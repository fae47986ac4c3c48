"""The sandbox's settings, read once from the environment (see the modules for each variable)."""

from __future__ import annotations

from dataclasses import dataclass, field

from jamjet_common.config import Env
from services.worker.sandbox import commands, python_modules
from services.worker.sandbox.commands import CommandPolicy
from services.worker.sandbox.network import HostGuard
from services.worker.sandbox.python_modules import ModulePolicy
from services.worker.sandbox.refusal import DEV_MODE_VARIABLE
from services.worker.sandbox.secrets import SecretMap


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    python: ModulePolicy = field(default_factory=ModulePolicy)
    commands: CommandPolicy = field(default_factory=CommandPolicy)
    secrets: SecretMap = field(default_factory=SecretMap)
    hosts: HostGuard = field(default_factory=HostGuard)

    @classmethod
    def from_env(cls, env: Env) -> SandboxConfig:
        dev = dev_mode(env)
        return cls(
            python=ModulePolicy(_listed(env, python_modules.ALLOWLIST_VARIABLE), dev),
            commands=CommandPolicy.from_entries(_listed(env, commands.ALLOWLIST_VARIABLE), dev),
            secrets=SecretMap.from_env(env),
            hosts=HostGuard.from_env(env),
        )


def dev_mode(env: Env) -> bool:
    return env.flag(DEV_MODE_VARIABLE, False)


def _listed(env: Env, name: str) -> tuple[str, ...] | None:
    """The variable's comma list; None when it is unset or blank (``,`` alone: an empty allowlist)."""
    if not env.environ.get(name, "").strip():
        return None
    return env.items(name, ())
