"""The web console's executions page under load, in Debian's Chromium: ``python -m bench.console``.

1. Render: 1,000 stored executions, the page switched to 1,000 per page; time from the switch until
   the page holds the 1,000 and has painted the rows in view (the gateway's reply included), timed in
   the page, median of RUNS. Then a jump from the top to the end of the list until its last row is
   painted (the list draws only the rows in view).
2. Responsive while 200 run: 200 executions of ``paced`` (5 steps of 1 s) started at once while the
   page shows 1,000 rows and reloads them live, while someone types in the workflow filter. In the
   page, a 50 ms timer measures how late it fires (the main thread's lag), PerformanceObservers count
   long tasks and keystrokes that took over 16 ms from input to paint (Event Timing), and the main
   thread's CPU time (``MainThread``), which unlike those does not grow with the machine's load.
   JAMJET_BENCH_TRACE=trace.json also saves Chromium's trace of that phase (open it in the Performance
   panel of Chrome's DevTools or ui.perfetto.dev) to see what the main thread spends its time on.

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
from playwright.async_api import CDPSession, Page, async_playwright

from bench import steps
from bench.gateway import TOKEN, gateway_process
from bench.workloads import Waiters
from jamjet_client import RuntimeClient
from jamjet_common.local.postgres import create_database, drop_database, resolve_database_url
from services.devstack.stack import ServiceProcesses, service_env, start_nats
from tests.console.browser import CHROMIUM, CHROMIUM_ARGS

STORED = 1000
RUNNING = 200
RUNS = 5
PROBE = """() => {
  window.__lags = []; window.__long = []; window.__events = [];
  let expected = performance.now() + 50;
  window.__probe = setInterval(() => {
    const now = performance.now(); __lags.push(now - expected); expected = now + 50;
  }, 50);
  new PerformanceObserver((list) => list.getEntries().forEach((e) => __long.push(e.duration)))
    .observe({ type: "longtask" });
  new PerformanceObserver((list) => list.getEntries().forEach((e) => __events.push(e.duration)))
    .observe({ type: "event", durationThreshold: 16 });
}"""
RENDER = """async (size) => {
  // In the page, so no round trip to the test driver is counted: choose the page size, then wait (a
  // MutationObserver, no polling) until the page holds `size` executions and has drawn its rows, and
  // for the next frame, which paints them. A page that draws every row (before the list was
  // virtualised) is done when all are drawn; one that draws the rows in view, when `data-rows` says so.
  const select = document.querySelector("select[data-page-size]");
  const table = document.querySelector("table.executions");
  const drawn = () => table.querySelectorAll("tbody tr[data-execution]").length;
  const done = () => drawn() === size || (table.dataset.rows === String(size) && drawn() > 0);
  if (done()) return [0, -1, 0];
  const shown = new Promise((resolve) => {
    const observer = new MutationObserver(() => done() && (observer.disconnect(), resolve()));
    observer.observe(table, { childList: true, subtree: true, attributes: true });
  });
  performance.clearResourceTimings();
  const t0 = performance.now();
  select.value = String(size);
  select.dispatchEvent(new Event("change", { bubbles: true }));
  await shown;
  const rows = performance.now() - t0;
  await new Promise((resolve) => requestAnimationFrame(resolve));
  const fetched = performance.getEntriesByType("resource").filter((e) => e.name.includes(`limit=${size}`));
  return [performance.now() - t0, fetched.length ? fetched[0].duration : -1, rows];
}"""
SCROLL = """async () => {
  // From the top of the list to its end in one jump: until the last row is drawn and painted.
  window.scrollTo(0, 0);
  await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  const rows = document.querySelector("table.executions tbody");
  const lastIndex = String(Number(document.querySelector("table.executions").getAttribute("aria-rowcount")));
  // A page that draws every row (no aria-rowcount) has its last row drawn already.
  const last = () => rows.querySelector(`tr[aria-rowindex="${lastIndex}"]`) || rows.rows.length >= 1000;
  const t0 = performance.now();
  window.scrollTo(0, document.body.scrollHeight);
  if (!last()) {
    await new Promise((resolve) => {
      const observer = new MutationObserver(() => last() && (observer.disconnect(), resolve()));
      observer.observe(rows, { childList: true });
    });
  }
  await new Promise((resolve) => requestAnimationFrame(resolve));
  const took = performance.now() - t0;
  window.scrollTo(0, 0);
  return took;
}"""
TRACE = os.environ.get("JAMJET_BENCH_TRACE")  # a path: Chromium's trace of the 200-running phase


class MainThread:
    """The renderer's main thread in CPU time (CDP Performance metrics counted in thread ticks). On a
    loaded machine the wall-clock figures include the time the OS gave other processes (a task of
    10 ms of work can take 250 ms); these count only the page's own work."""

    def __init__(self, session: CDPSession) -> None:
        self.session = session

    @classmethod
    async def follow(cls, page: Page) -> MainThread:
        session = await page.context.new_cdp_session(page)
        await session.send("Performance.enable", {"timeDomain": "threadTicks"})
        return cls(session)

    async def metrics(self) -> dict[str, float]:
        reply = await self.session.send("Performance.getMetrics")
        return {m["name"]: float(m["value"]) for m in reply["metrics"]}

    @staticmethod
    def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        def ms(*names: str) -> float:
            return sum(after[n] - before[n] for n in names) * 1000

        return {
            "main thread CPU ms": ms("TaskDuration"),
            "of which script ms": ms("ScriptDuration"),
            "of which style and layout ms": ms("RecalcStyleDuration", "LayoutDuration"),
            "DOM nodes at 1000 rows": after["Nodes"],
        }


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


async def render_once(page: Page, main_thread: MainThread) -> tuple[float, float, float]:
    """Milliseconds from choosing 1,000 per page to 1,000 rows painted; the API call's share; and the
    main thread's CPU time over it."""
    await page.evaluate(RENDER, 50)
    before = (await main_thread.metrics())["TaskDuration"]
    total, fetched, _ = await page.evaluate(RENDER, STORED)
    cpu = (await main_thread.metrics())["TaskDuration"] - before
    return float(total), float(fetched), cpu * 1000


async def login(page: Page, url: str) -> None:
    await page.goto(url + "/")
    await page.get_by_label("API token").fill(TOKEN)
    await page.get_by_role("button", name="Log in").click()
    await page.get_by_role("navigation", name="Main").wait_for()


async def under_load(page: Page, nc: Client, waiters: Waiters, main_thread: MainThread) -> dict[str, float]:
    """The page at 1,000 rows, live, while 200 executions run; a person types meanwhile."""
    await page.evaluate(RENDER, STORED)
    await page.evaluate(PROBE)
    before = await main_thread.metrics()
    started = time.perf_counter()
    ids = await seed(nc, waiters, RUNNING, "paced", {"pause": 1.0})
    field = page.get_by_label("Workflow")
    while not all(waiters.expect(i).done() for i in ids):
        await field.press_sequentially("abc", delay=100)
        await field.fill("")
    wall = time.perf_counter() - started
    spent = MainThread.spent(before, await main_thread.metrics())
    lags: list[float] = await page.evaluate("window.__lags")
    long_tasks: list[float] = await page.evaluate("window.__long")
    events: list[float] = await page.evaluate("window.__events")
    return {
        "200 running: wall s": wall,
        "timer lag p50 ms": statistics.median(lags),
        "timer lag p95 ms": statistics.quantiles(lags, n=20)[18],
        "timer lag max ms": max(lags),
        "long tasks (>50 ms)": float(len(long_tasks)),
        "long tasks total ms": sum(long_tasks),
        "keystrokes over 16 ms": float(len(events)),
        "keystroke to paint max ms": max(events, default=0.0),
    } | spent


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
        main_thread = await MainThread.follow(page)
        renders = [await render_once(page, main_thread) for _ in range(RUNS)]
        scrolls = [float(await page.evaluate(SCROLL)) for _ in range(RUNS)]
        figures = {
            "render 1000 rows p50 ms": statistics.median(r for r, _, _ in renders),
            "render max ms": max(r for r, _, _ in renders),
            "of which GET /executions?limit=1000 p50 ms": statistics.median(f for _, f, _ in renders),
            "render main thread CPU p50 ms": statistics.median(c for _, _, c in renders),
            "jump to row 1000 p50 ms": statistics.median(scrolls),
            "jump to row 1000 max ms": max(scrolls),
        }
        if TRACE:
            await browser.start_tracing(page=page, path=TRACE, screenshots=False)
        figures |= await under_load(page, nc, waiters, main_thread)
        if TRACE:
            await browser.stop_tracing()
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
