"""How a service proves who it is to NATS: none (loopback development), a creds file (JWT mode), a
user and password, or an nkey seed file (what ``jamjet-admin`` generates)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from jamjet_common.config import ConfigError, Env


@dataclass(frozen=True, slots=True)
class NatsAuth:
    creds_file: str = ""
    user: str = ""
    password: str = ""
    nkey_seed_file: str = ""

    @classmethod
    def from_env(cls, env: Env) -> NatsAuth:
        auth = cls(
            creds_file=_readable(env, "NATS_CREDS"),
            user=env.text("NATS_USER", ""),
            password=env.text("NATS_PASSWORD", ""),
            nkey_seed_file=_readable(env, "NATS_NKEY_SEED_FILE"),
        )
        if bool(auth.user) != bool(auth.password):
            raise ConfigError("NATS_USER and NATS_PASSWORD must be set together")
        if sum(map(bool, (auth.creds_file, auth.user, auth.nkey_seed_file))) > 1:
            raise ConfigError("set only one of NATS_CREDS, NATS_USER/NATS_PASSWORD and NATS_NKEY_SEED_FILE")
        return auth

    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments for ``nats.connect``; empty when no credentials are configured."""
        if self.creds_file:
            return {"user_credentials": self.creds_file}
        if self.user:
            return {"user": self.user, "password": self.password}
        if self.nkey_seed_file:
            return {"nkeys_seed": self.nkey_seed_file}
        return {}


def _readable(env: Env, name: str) -> str:
    path = env.text(name, "")
    if path and not os.access(path, os.R_OK):
        raise ConfigError(f"{name}={path!r} is not a readable file")
    return path
