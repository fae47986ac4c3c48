"""The scale-out scenarios reuse the fault-injection harness (services as OS processes)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from nats.aio.client import Client

from jamjet_common.local.nats_server import LocalNatsServer
from tests.faults.harness import FaultHarness, open_harness
from tests.faults.report import ScenarioReport


@pytest.fixture
async def harness(
    request: pytest.FixtureRequest,
    nats_server: LocalNatsServer,
    nc: Client,
    database_url: str,
    tmp_path: Path,
) -> AsyncIterator[FaultHarness]:
    report = ScenarioReport(request.node.name.removeprefix("test_"))
    async with open_harness(report, nats_server, nc, database_url, tmp_path / "logs") as built:
        yield built
