"""Fixtures of the policy tests: one running policy service."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.policy.service import PolicyService
from tests.harness import running
from tests.policy.support import build


@pytest.fixture
async def policy(nats_url: str) -> AsyncIterator[PolicyService]:
    async with running(build(nats_url)) as service:
        yield service
