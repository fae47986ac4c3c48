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
    inbox_prefix: str = ""
    """The user's own reply subjects (``_INBOX_<user>``): its permissions let no one else read them."""

    @classmethod
    def from_env(cls, env: Env) -> NatsAuth:
        auth = cls(
            creds_file=_readable(env, "NATS_CREDS"),
            user=env.text("NATS_USER", ""),
            password=env.text("NATS_PASSWORD", ""),
            nkey_seed_file=_readable(env, "NATS_NKEY_SEED_FILE"),
            inbox_prefix=env.text("NATS_INBOX_PREFIX", ""),
        )
        if bool(auth.user) != bool(auth.password):
            raise ConfigError("NATS_USER and NATS_PASSWORD must be set together")
        if sum(map(bool, (auth.creds_file, auth.user, auth.nkey_seed_file))) > 1:
            raise ConfigError("set only one of NATS_CREDS, NATS_USER/NATS_PASSWORD and NATS_NKEY_SEED_FILE")
        return auth

    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments for ``nats.connect``; empty when nothing is configured."""
        options: dict[str, Any] = {"inbox_prefix": self.inbox_prefix} if self.inbox_prefix else {}
        if self.creds_file:
            options["user_credentials"] = self.creds_file
        elif self.user:
            options.update(user=self.user, password=self.password)
        elif self.nkey_seed_file:
            options["nkeys_seed"] = self.nkey_seed_file
        return options


def _readable(env: Env, name: str) -> str:
    path = env.text(name, "")
    if path and not os.access(path, os.R_OK):
        raise ConfigError(f"{name}={path!r} is not a readable file")
    return path
