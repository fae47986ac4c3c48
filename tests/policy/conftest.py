"""Fixtures of the policy tests: one running policy service."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as NATS

from jamjet_common.subjects import POLICY_EVALUATE
from services.policy.service import PolicyService
from tests.harness import running
from tests.helpers import eventually
from tests.policy.support import build, request


@pytest.fixture
async def policy(nats_url: str, nc: NATS) -> AsyncIterator[PolicyService]:
    async with running(build(nats_url)) as service:
        # Started means subscribed and flushed, yet once in a CI run the first request found no
        # responder (cause not found). The tests are about answers, so they begin once one is
        # answered: an empty request, refused (invalid_request), so nothing is evaluated or counted.
        await eventually(lambda: request(nc, POLICY_EVALUATE, {}), message="the policy service answers")
        yield service
