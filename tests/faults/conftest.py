"""Fixtures of the fault-injection suite: a harness per scenario, and a Postgres of the test's own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from pathlib import Path

import pytest
from nats.aio.client import Client

from jamjet_common.local.nats_server import LocalNatsServer
from jamjet_common.local.postgres import create_database
from tests.faults.harness import FaultHarness, open_harness
from tests.faults.pg import OwnPostgres, PostgresUnavailableError
from tests.faults.report import REPORT_FILE, ScenarioReport

OWN_DATABASE = "jamjet_faults"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    item.stash.setdefault(FAILED, False)
    if report.failed:
        item.stash[FAILED] = True
    return report


FAILED = pytest.StashKey[bool]()


@pytest.fixture(scope="session")
def fresh_report() -> None:
    """The report file holds the scenarios of the latest session only."""
    REPORT_FILE.unlink(missing_ok=True)


def _scenario(request: pytest.FixtureRequest) -> ScenarioReport:
    return ScenarioReport(request.node.name.removeprefix("test_"))


async def _harness(
    request: pytest.FixtureRequest,
    nats: LocalNatsServer,
    nc: Client,
    database_url: str,
    log_dir: Path,
    postgres: OwnPostgres | None = None,
    settings: dict[str, str] | None = None,
) -> AsyncIterator[FaultHarness]:
    report = _scenario(request)
    async with open_harness(report, nats, nc, database_url, log_dir, postgres, settings) as harness:
        try:
            yield harness
        finally:
            if request.node.stash.get(FAILED, False) and not report.emitted:
                report.emit()
                print(harness.tails())


@pytest.fixture
async def harness(
    fresh_report: None,
    request: pytest.FixtureRequest,
    nats_server: LocalNatsServer,
    nc: Client,
    database_url: str,
    tmp_path: Path,
) -> AsyncIterator[FaultHarness]:
    """The harness; a test module's ``HARNESS_SETTINGS`` are set on every service (e.g. inline nodes)."""
    settings = getattr(request.module, "HARNESS_SETTINGS", None)
    async for built in _harness(request, nats_server, nc, database_url, tmp_path / "logs", settings=settings):
        yield built


@pytest.fixture
async def own_postgres() -> AsyncIterator[OwnPostgres]:
    try:
        server = await OwnPostgres.create()
    except PostgresUnavailableError as exc:
        pytest.skip(f"this scenario needs a Postgres it can stop and start, and none can be made: {exc}")
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def harness_own_postgres(
    fresh_report: None,
    request: pytest.FixtureRequest,
    nats_server: LocalNatsServer,
    nc: Client,
    own_postgres: OwnPostgres,
    tmp_path: Path,
) -> AsyncIterator[FaultHarness]:
    url = await create_database(own_postgres.admin_url, OWN_DATABASE)
    async for built in _harness(request, nats_server, nc, url, tmp_path / "logs", own_postgres):
        yield built
