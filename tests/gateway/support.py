"""The gateway in the test's event loop, in front of the four services, with tokens for two tenants."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator

from services.gateway.service import GatewayService
from services.gateway.tokens import token_hash
from tests.e2e.stack import Stack
from tests.harness import running

ALICE = "alice-token-default"
"""Reads and writes in tenant ``default``."""
BOB = "bob-token-acme"
"""Reads and writes in tenant ``acme``."""
READER = "reader-token-default"
"""Only reads, in tenant ``default``."""
TOKENS = {ALICE: ("default", False), BOB: ("acme", False), READER: ("default", True)}


def tokens_json() -> str:
    return json.dumps(
        [{"sha256": token_hash(t), "tenant": tenant, "read_only": ro} for t, (tenant, ro) in TOKENS.items()]
    )


@contextlib.asynccontextmanager
async def gateway(stack: Stack, **extra: str) -> AsyncIterator[GatewayService]:
    env = stack.env(JAMJET_GATEWAY_PORT="0", JAMJET_GATEWAY_TOKENS=tokens_json(), **extra)
    async with running(GatewayService.from_env(env)) as service:
        yield service


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def agent_card(agent_id: str = "helper") -> dict[str, object]:
    return {
        "id": agent_id,
        "uri": f"https://agents.example/{agent_id}",
        "name": agent_id,
        "description": "helps",
        "version": "1.0.0",
        "capabilities": {"skills": [], "protocols": [], "tools_provided": [], "tools_consumed": []},
        "autonomy": "guided",
    }
