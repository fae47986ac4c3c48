"""API tokens: only their SHA-256 is configured and kept; each maps to a tenant, maybe read-only.

Configuration (JAMJET_GATEWAY_TOKENS or the file JAMJET_GATEWAY_TOKENS_FILE) is a JSON list::

    [{"sha256": "<hex of the token's SHA-256>", "tenant": "acme", "read_only": false, "name": "ci"}]

``python -m services.gateway hash-token <token>`` prints the hash of a token.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import msgspec

from jamjet_common import subjects
from jamjet_common.config import ConfigError
from jamjet_common.errors import InvalidTokenError
from jamjet_common.messages import DEFAULT_TENANT


class TokenEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    sha256: str
    tenant: str
    read_only: bool = False
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as."""

    tenant: str
    read_only: bool
    name: str | None = None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class TokenTable:
    by_hash: dict[str, Principal]

    @classmethod
    def single(cls, token: str) -> TokenTable:
        return cls({token_hash(token): Principal(DEFAULT_TENANT, read_only=False, name="dev")})

    def principal(self, token: str) -> Principal | None:
        return self.by_hash.get(token_hash(token))


def parse_tokens(text: str, variable: str) -> TokenTable:
    try:
        entries = msgspec.json.decode(text, type=list[TokenEntry])
    except msgspec.DecodeError as exc:
        raise ConfigError(f"{variable}: not a JSON list of {{sha256, tenant, read_only?}}: {exc}") from None
    table: dict[str, Principal] = {}
    for entry in entries:
        digest = entry.sha256.lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ConfigError(f"{variable}: sha256 {entry.sha256[:16]!r}... is not 64 hex digits")
        try:
            subjects.check_token(entry.tenant, "tenant")
        except InvalidTokenError as exc:
            raise ConfigError(f"{variable}: {exc}") from None
        table[digest] = Principal(entry.tenant, entry.read_only, entry.name)
    if not table:
        raise ConfigError(f"{variable}: no tokens configured")
    return TokenTable(table)
