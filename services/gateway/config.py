"""The gateway's settings (``JAMJET_GATEWAY_*``), read once from the environment."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import msgspec

from jamjet_common.config import CommonConfig, ConfigError, Env
from jamjet_common.messages import DEFAULT_TENANT
from jamjet_common.streams import StreamLimits
from services.gateway.tokens import TokenEntry, TokenTable, parse_tokens, token_hash

DEFAULT_PORT = 7700
"""The original jamjet-server's port: the SDK and CLI default to it."""
REPO_CONSOLE_DIST = Path(__file__).resolve().parents[2] / "console" / "dist"
"""Where ``npm run build`` writes the web console in a checkout (JAMJET_GATEWAY_CONSOLE_DIR overrides)."""


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    common: CommonConfig
    limits: StreamLimits
    host: str
    port: int
    public_url: str | None
    """Where clients reach the API, printed with the first token instead of the listening address (in
    compose, the published port on the host)."""
    tokens: TokenTable
    dev_token: str | None
    """Set in dev mode (the one token) and when a first token was just created: printed at start."""
    max_body_bytes: int
    max_artifact_bytes: int
    request_timeout_secs: float
    read_wait_secs: float
    """How long a read waits for the store to catch up with an execution already on the bus."""
    sse_ping_secs: float
    console_dir: Path
    """The built web console (``console/dist``)."""
    trace_url: str | None
    """The tracing UI's URL for a trace, ``{trace_id}`` standing for the id (e.g. Jaeger's
    ``http://localhost:16686/trace/{trace_id}``); the console links trace ids to it."""

    @classmethod
    def from_env(cls, env: Env) -> GatewayConfig:
        tokens, dev_token = _tokens(env)
        common = CommonConfig.from_env(env, "gateway")
        return cls(
            common=common,
            limits=StreamLimits.from_env(env),
            host=env.text("JAMJET_GATEWAY_HOST", "127.0.0.1"),
            port=env.integer("JAMJET_GATEWAY_PORT", DEFAULT_PORT),
            public_url=env.text("JAMJET_GATEWAY_PUBLIC_URL", "") or None,
            tokens=tokens,
            dev_token=dev_token,
            max_body_bytes=env.integer(
                "JAMJET_GATEWAY_MAX_BODY_BYTES", common.max_message_bytes, minimum=1024
            ),
            max_artifact_bytes=env.integer("JAMJET_GATEWAY_MAX_ARTIFACT_BYTES", 8 * 1024 * 1024, minimum=1),
            request_timeout_secs=env.number("JAMJET_GATEWAY_REQUEST_TIMEOUT_SECS", 10.0, minimum=0.1),
            read_wait_secs=env.number("JAMJET_GATEWAY_READ_WAIT_SECS", 5.0),
            sse_ping_secs=env.number("JAMJET_GATEWAY_SSE_PING_SECS", 15.0, minimum=0.1),
            console_dir=Path(env.text("JAMJET_GATEWAY_CONSOLE_DIR", "") or REPO_CONSOLE_DIST),
            trace_url=_trace_url(env),
        )


def _trace_url(env: Env) -> str | None:
    url = env.text("JAMJET_GATEWAY_TRACE_URL", "")
    if url and "{trace_id}" not in url:
        raise ConfigError(f"JAMJET_GATEWAY_TRACE_URL={url!r} must contain {{trace_id}}")
    return url or None


def _tokens(env: Env) -> tuple[TokenTable, str | None]:
    """The token table from JAMJET_GATEWAY_TOKENS (JSON) or the file JAMJET_GATEWAY_TOKENS_FILE; in dev
    mode (JAMJET_GATEWAY_DEV) one token for the default tenant, JAMJET_GATEWAY_DEV_TOKEN or a random one."""
    if env.flag("JAMJET_GATEWAY_DEV", False):
        token = env.text("JAMJET_GATEWAY_DEV_TOKEN", "") or secrets.token_urlsafe(24)
        return TokenTable.single(token), token
    inline = env.text("JAMJET_GATEWAY_TOKENS", "")
    path = env.text("JAMJET_GATEWAY_TOKENS_FILE", "")
    if inline:
        return parse_tokens(inline, "JAMJET_GATEWAY_TOKENS"), None
    if path:
        first = _first_token(Path(path)) if env.flag("JAMJET_GATEWAY_CREATE_TOKEN", False) else None
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(f"JAMJET_GATEWAY_TOKENS_FILE={path!r} cannot be read: {exc}") from None
        return parse_tokens(text, "JAMJET_GATEWAY_TOKENS_FILE"), first
    raise ConfigError(
        "no API tokens: set JAMJET_GATEWAY_TOKENS or JAMJET_GATEWAY_TOKENS_FILE "
        "(or JAMJET_GATEWAY_DEV=true for one printed development token)"
    )


def _first_token(path: Path) -> str | None:
    """A deploy's first token (JAMJET_GATEWAY_CREATE_TOKEN): when ``path`` does not exist yet, one token for
    the default tenant is made, its hash written there (mode 600) and the token returned to print once."""
    token = secrets.token_urlsafe(24)
    entry = TokenEntry(sha256=token_hash(token), tenant=DEFAULT_TENANT, name="first")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return None  # made at an earlier start, or by another replica
    except OSError as exc:
        raise ConfigError(f"JAMJET_GATEWAY_TOKENS_FILE={str(path)!r} cannot be created: {exc}") from None
    with os.fdopen(fd, "wb") as file:
        file.write(msgspec.json.encode([entry]))
    return token
