"""The gateway's settings (``JAMJET_GATEWAY_*``), read once from the environment."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from jamjet_common.config import CommonConfig, ConfigError, Env
from jamjet_common.streams import StreamLimits
from services.gateway.tokens import TokenTable, parse_tokens

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
    tokens: TokenTable
    dev_token: str | None
    """Set in dev mode: the one token, printed at start."""
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
    if env.text("JAMJET_GATEWAY_DEV", "").lower() in ("1", "true", "yes"):
        token = env.text("JAMJET_GATEWAY_DEV_TOKEN", "") or secrets.token_urlsafe(24)
        return TokenTable.single(token), token
    inline = env.text("JAMJET_GATEWAY_TOKENS", "")
    path = env.text("JAMJET_GATEWAY_TOKENS_FILE", "")
    if inline:
        return parse_tokens(inline, "JAMJET_GATEWAY_TOKENS"), None
    if path:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(f"JAMJET_GATEWAY_TOKENS_FILE={path!r} cannot be read: {exc}") from None
        return parse_tokens(text, "JAMJET_GATEWAY_TOKENS_FILE"), None
    raise ConfigError(
        "no API tokens: set JAMJET_GATEWAY_TOKENS or JAMJET_GATEWAY_TOKENS_FILE "
        "(or JAMJET_GATEWAY_DEV=true for one printed development token)"
    )
