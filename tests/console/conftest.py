"""One stack (nats-server, a database, the four services, the gateway) and one Chromium for the whole
console test module: every test works in its own executions and its own browser context.

The browser is Debian's Chromium (``apt-get install chromium``); Playwright downloads none.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import nats
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright, expect

from jamjet_common.local.nats_server import LocalNatsServer
from jamjet_common.local.postgres import create_database, drop_database
from services.gateway.config import REPO_CONSOLE_DIST
from tests.console.browser import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.stack import Recorder, Stack, services
from tests.gateway.support import gateway

ARTIFACTS = Path(__file__).parent / "artifacts"
UI_TIMEOUT_MS = 30_000
expect.set_options(timeout=UI_TIMEOUT_MS)


@dataclass
class Console:
    stack: Stack
    url: str
    browser: Browser

    @contextlib.asynccontextmanager
    async def page(self, token: str) -> AsyncIterator[Page]:
        """A fresh browser context, logged in with ``token``."""
        context = await self.browser.new_context(viewport={"width": 1400, "height": 900})
        try:
            page = await context.new_page()
            page.set_default_timeout(UI_TIMEOUT_MS)
            await page.goto(self.url + "/")
            await page.get_by_label("API token").fill(token)
            await page.get_by_role("button", name="Log in").click()
            await expect(page.get_by_role("navigation", name="Main")).to_be_visible()
            yield page
        finally:
            await context.close()


def _check_prerequisites() -> None:
    assert (REPO_CONSOLE_DIST / "index.html").is_file(), (
        f"{REPO_CONSOLE_DIST} is not built: run `npm ci && npm run build` in console/"
    )
    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} is missing: apt-get install -y chromium"
    ARTIFACTS.mkdir(exist_ok=True)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def console(postgres_admin_url: str) -> AsyncIterator[Console]:
    _check_prerequisites()
    name = f"jamjet_t_{uuid.uuid4().hex[:8]}"
    database_url = await create_database(postgres_admin_url, name)
    try:
        with LocalNatsServer() as server:
            async with _stack(server.url, database_url) as console:
                yield console
    finally:
        await drop_database(postgres_admin_url, name)


@contextlib.asynccontextmanager
async def _stack(nats_url: str, database_url: str) -> AsyncIterator[Console]:
    nc = await nats.connect(nats_url, name="jamjet-console-tests")
    try:
        recorder = Recorder()
        await nc.subscribe("jamjet.events.>", cb=recorder.on_msg)
        stack = Stack(nc, nats_url, database_url, recorder)
        async with services(stack), gateway(stack) as gw, async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield Console(stack, gw.url, browser)
            finally:
                await browser.close()
    finally:
        await nc.drain()
