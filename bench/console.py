"""The web console's executions page under load, in Debian's Chromium: ``python -m bench.console``.

1. Render: 1,000 stored executions, the page switched to 1,000 per page; time from the switch until
   1,000 rows are in the DOM (the gateway's reply included), median of RUNS.
2. Responsive while 200 run: 200 executions of ``paced`` (5 steps of 1 s) started at once while the
   page shows 1,000 rows and reloads them live. In the page, a 50 ms timer measures how late it fires
   (the main thread's lag) and a PerformanceObserver counts long tasks; a click on a row's link is
   timed until the execution's page shows.

The services and the gateway run as separate processes, as in production (see bench/__main__.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client
from playwright.async_api import Page, async_playwright

from bench import steps
from bench.__main__ import Waiters
from bench.gateway import TOKEN, gateway_process
from jamjet_client import RuntimeClient
from jamjet_common.local.postgres import create_database, drop_database, resolve_database_url
from services.devstack.stack import ServiceProcesses, service_env, start_nats
from tests.console.browser import CHROMIUM, CHROMIUM_ARGS

STORED = 1000
RUNNING = 200
RUNS = 5
PROBE = """() => {
  window.__lags = []; window.__long = [];
  let expected = performance.now() + 50;
  window.__probe = setInterval(() => {
    const now = performance.now(); __lags.push(now - expected); expected = now + 50;
  }, 50);
  new PerformanceObserver((list) => list.getEntries().forEach((e) => __long.push(e.duration)))
    .observe({ type: "longtask", buffered: false });
}"""


async def seed(nc: Client, waiters: Waiters, count: int, workflow_id: str, data: dict[str, Any]) -> list[str]:
    client = RuntimeClient(nc)
    ids = [f"exec_{workflow_id}_{uuid.uuid4().hex[:12]}" for _ in range(count)]
    for i in ids:
        waiters.expect(i)
    for chunk in range(0, count, 50):
        await asyncio.gather(
            *(client.start(workflow_id, data, execution_id=i) for i in ids[chunk : chunk + 50])
        )
    return ids


FETCH = """() => {
  const done = performance.getEntriesByType("resource").filter((e) => e.name.includes("limit=1000"));
  performance.clearResourceTimings();
  return done.length ? done[done.length - 1].duration : -1;
}"""


async def render_once(page: Page) -> tuple[float, float]:
    """Seconds from choosing 1,000 per page to 1,000 rows shown; and the API call's share (ms)."""
    await page.get_by_label("Per page").select_option("50")
    await page.wait_for_function("document.querySelectorAll('tbody tr').length === 50")
    t0 = time.perf_counter()
    await page.get_by_label("Per page").select_option("1000")
    await page.wait_for_function(f"document.querySelectorAll('tbody tr').length === {STORED}")
    elapsed = time.perf_counter() - t0
    return elapsed, float(await page.evaluate(FETCH))


async def login(page: Page, url: str) -> None:
    await page.goto(url + "/")
    await page.get_by_label("API token").fill(TOKEN)
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_role("navigation", name="Main").wait_for()


async def under_load(page: Page, nc: Client, waiters: Waiters, url: str) -> dict[str, float]:
    await page.get_by_label("Per page").select_option("1000")
    await page.wait_for_function(f"document.querySelectorAll('tbody tr').length === {STORED}")
    await page.evaluate(PROBE)
    started = time.perf_counter()
    ids = await seed(nc, waiters, RUNNING, "paced", {"pause": 1.0})
    clicks = []
    while not all(waiters.expect(i).done() for i in ids):
        clicks.append(await click_latency(page, url))
    wall = time.perf_counter() - started
    lags: list[float] = await page.evaluate("window.__lags")
    long_tasks: list[float] = await page.evaluate("window.__long")
    return {
        "200 running: wall s": wall,
        "timer lag p50 ms": statistics.median(lags),
        "timer lag p95 ms": statistics.quantiles(lags, n=20)[18],
        "timer lag max ms": max(lags),
        "long tasks (>50 ms)": float(len(long_tasks)),
        "long tasks total ms": sum(long_tasks),
        "row click to page p50 ms": statistics.median(clicks) * 1000,
        "row click to page max ms": max(clicks) * 1000,
    }


async def click_latency(page: Page, url: str) -> float:
    link = page.locator("tbody tr a").first
    t0 = time.perf_counter()
    await link.click()
    await page.get_by_role("heading", name="Graph").wait_for()
    elapsed = time.perf_counter() - t0
    await page.go_back()
    await page.wait_for_function("document.querySelectorAll('tbody tr').length > 0")
    return elapsed


async def measure(nc: Client, url: str) -> dict[str, float]:
    waiters = Waiters()
    await nc.subscribe("jamjet.events.>", cb=waiters.on_msg)
    for ir in (steps.one_step(), steps.paced()):
        await RuntimeClient(nc).register(ir)
    ids = await seed(nc, waiters, STORED, "one_step", {})
    await asyncio.wait_for(asyncio.gather(*(waiters.expect(i) for i in ids)), 300)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await (await browser.new_context(viewport={"width": 1400, "height": 900})).new_page()
        page.set_default_timeout(120_000)
        await login(page, url)
        renders = [await render_once(page) for _ in range(RUNS)]
        figures = {
            "render 1000 rows p50 ms": statistics.median(r for r, _ in renders) * 1000,
            "render max ms": max(r for r, _ in renders) * 1000,
            "of which GET /executions?limit=1000 p50 ms": statistics.median(f for _, f in renders),
        }
        figures |= await under_load(page, nc, waiters, url)
        await browser.close()
    return figures


async def main() -> None:
    admin_url, _ = await resolve_database_url(os.environ)
    name = f"jamjet_bench_{uuid.uuid4().hex[:8]}"
    database_url = await create_database(admin_url, name)
    with tempfile.TemporaryDirectory(prefix="jamjet-bench-console-") as tmp:
        server = start_nats(Path(tmp) / "nats")
        env = service_env(server.url, database_url) | {"JAMJET_LOG_LEVEL": "WARNING"}
        services = ServiceProcesses(env, Path(tmp) / "logs")
        await services.start()
        nc = await nats.connect(server.url)
        try:
            async with gateway_process(env, Path(tmp) / "logs") as (url, _):
                figures = await measure(nc, url)
        finally:
            await nc.drain()
            await services.stop()
            server.close()
            await drop_database(admin_url, name)
    print("| console | metric | value |\n|---|---|---|")
    for key, value in figures.items():
        print(f"| executions page | {key} | {value:.1f} |")
    print(json.dumps(figures))


if __name__ == "__main__":
    asyncio.run(main())
