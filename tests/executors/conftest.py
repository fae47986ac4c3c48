"""Fixtures for the executor tests: fake HTTP servers and executors pointed at them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from jamjet_common.config import Env
from services.worker.executors.model import ModelExecutor
from services.worker.executors.tool import ToolExecutor
from tests.executors.builders import model_settings, tool_settings
from tests.executors.fake_http import FakeHttpServer

SECRETS = {"SEARCH_TOKEN": "tok-123", "SEARCH_KEY": "key-456"}
SECRET_MAP = {f"JAMJET_SECRET_{name}": name for name in SECRETS}
"""The operator's mapping: each secret name is the variable of the same name."""


@pytest.fixture
async def fake() -> AsyncIterator[FakeHttpServer]:
    async with FakeHttpServer() as server:
        yield server


@pytest.fixture
async def model_executor(fake: FakeHttpServer) -> AsyncIterator[ModelExecutor]:
    executor = ModelExecutor(model_settings(fake.url, JAMJET_MODEL_TIMEOUT_SECS="0.5"))
    yield executor
    await executor.aclose()


@pytest.fixture
async def tool_executor() -> AsyncIterator[ToolExecutor]:
    executor = ToolExecutor(
        tool_settings(JAMJET_PYTHON_ALLOWED_MODULES="tests.executors", **SECRET_MAP), secrets=Env(SECRETS)
    )
    yield executor
    await executor.aclose()
