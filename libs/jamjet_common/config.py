"""Configuration from environment variables, read once into frozen objects.

Every parse error names the variable, so a bad deployment says exactly what to fix.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jamjet_common.errors import JamjetError

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class ConfigError(JamjetError):
    code = "config_error"


class Env:
    """Typed reads of environment variables."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    @property
    def environ(self) -> Mapping[str, str]:
        """The variables themselves, for libraries that read their own (OpenTelemetry)."""
        return self._environ

    def text(self, name: str, default: str) -> str:
        value = self._environ.get(name, "").strip()
        return value or default

    def flag(self, name: str, default: bool) -> bool:
        """A yes/no setting: 1/true/yes/on or 0/false/no/off (any case); unset or blank is ``default``."""
        raw = self._environ.get(name, "").strip().lower()
        if not raw:
            return default
        if raw not in _TRUE | _FALSE:
            raise ConfigError(f"{name}={raw!r} is not one of 1, true, yes, on, 0, false, no, off")
        return raw in _TRUE

    def integer(self, name: str, default: int, *, minimum: int = 0) -> int:
        raw = self._environ.get(name, "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not an integer") from None
        if value < minimum:
            raise ConfigError(f"{name}={value} must be at least {minimum}")
        return value

    def number(self, name: str, default: float, *, minimum: float = 0.0) -> float:
        raw = self._environ.get(name, "").strip()
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a number") from None
        if value < minimum:
            raise ConfigError(f"{name}={value} must be at least {minimum}")
        return value

    def prefixed(self, prefix: str) -> dict[str, str]:
        """Every set, non-blank variable whose name starts with ``prefix``, for families of settings."""
        found = {name: value.strip() for name, value in self._environ.items() if name.startswith(prefix)}
        return {name: value for name, value in found.items() if value}

    def items(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        raw = self._environ.get(name, "").strip()
        if not raw:
            return default
        return tuple(part.strip() for part in raw.split(",") if part.strip())

    def subset(
        self, name: str, default: frozenset[str], allowed: frozenset[str], refusal: str
    ) -> frozenset[str]:
        """A comma list of names from ``allowed`` (``none``: the empty set); else a ConfigError saying
        which names ``refusal`` (e.g. "cannot run inline")."""
        names = self.items(name, tuple(sorted(default)))
        if names == ("none",):
            return frozenset()
        if unknown := sorted(set(names) - allowed):
            listed = ", ".join(sorted(allowed))
            raise ConfigError(f"{name}: {', '.join(unknown)} {refusal} ({listed}, or none)")
        return frozenset(names)


@dataclass(frozen=True, slots=True)
class CommonConfig:
    """Settings every service shares."""

    nats_url: str
    instance_id: str
    shutdown_grace_secs: float
    log_level: str
    max_message_bytes: int
    health_file: str
    metrics_poll_secs: float = 10.0
    """How often queue depths and consumer lag are read for the metrics (when metrics are on)."""
    nats_options: Mapping[str, Any] = field(default_factory=dict)
    """Credentials for ``nats.connect`` (``natsauth.NatsAuth``); empty: no authentication."""
    provision_streams: bool = True
    """False where services may not use the JetStream admin API: ``jamjet-admin init`` creates streams."""
    max_command_attempts: int = 5
    """Handlings of a stored command that fail before it is answered, dead-lettered and acked."""

    @classmethod
    def from_env(cls, env: Env, service: str) -> CommonConfig:
        return cls(
            nats_url=env.text("NATS_URL", DEFAULT_NATS_URL),
            instance_id=env.text("JAMJET_INSTANCE_ID", f"{service}-{socket.gethostname()}-{os.getpid()}"),
            shutdown_grace_secs=env.number("JAMJET_SHUTDOWN_GRACE_SECS", 30.0),
            log_level=env.text("JAMJET_LOG_LEVEL", "INFO").upper(),
            max_message_bytes=env.integer("JAMJET_MAX_MESSAGE_BYTES", 512 * 1024, minimum=1024),
            health_file=env.text("JAMJET_HEALTH_FILE", ""),
            metrics_poll_secs=env.number("JAMJET_METRICS_POLL_SECS", 10.0, minimum=0.1),
            nats_options=_nats_options(env),
            provision_streams=env.flag("JAMJET_PROVISION_STREAMS", True),
            max_command_attempts=max_command_attempts(env),
        )


def _nats_options(env: Env) -> dict[str, Any]:
    from jamjet_common.natsauth import NatsAuth  # natsauth reads its variables through this module

    return NatsAuth.from_env(env).connect_options()


def max_command_attempts(env: Env) -> int:
    """``JAMJET_MAX_COMMAND_ATTEMPTS``; the policy service's older name still counts when it is unset."""
    legacy = env.integer("JAMJET_POLICY_CMD_MAX_ATTEMPTS", 5, minimum=1)
    return env.integer("JAMJET_MAX_COMMAND_ATTEMPTS", legacy, minimum=1)
