"""The ``jamjet`` CLI, unchanged, as a subprocess against the gateway (``--runtime`` and JAMJET_TOKEN)."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest
from jamjet.client import JamjetClient

from tests.e2e import workflows
from tests.e2e.stack import Stack, services
from tests.gateway.support import ALICE, gateway
from tests.helpers import eventually

pytestmark = pytest.mark.e2e
CLI = [sys.executable, "-c", "from jamjet.cli.main import app; app()"]


async def jamjet(url: str, *args: str) -> tuple[int, str]:
    """Run ``jamjet <args> --runtime <url>`` with JAMJET_TOKEN; its exit code and output."""
    env = {**os.environ, "JAMJET_TOKEN": ALICE, "COLUMNS": "250", "NO_COLOR": "1", "TERM": "dumb"}
    proc = await asyncio.create_subprocess_exec(
        *CLI,
        *args,
        "--runtime",
        url,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode or 0, out.decode()


async def test_inspect_events_approvals_approve_workers(stack: Stack) -> None:
    async with services(stack), gateway(stack) as gw, JamjetClient(gw.url, api_token=ALICE) as sdk:
        await sdk.create_workflow(workflows.approval())
        execution_id = (await sdk.start_execution("gated", {"ticket": 1}))["execution_id"]
        await eventually(lambda: _pending(sdk, execution_id), message="no approval pending")

        code, out = await jamjet(gw.url, "approvals", execution_id)
        assert code == 0, out
        # rich wraps a table's title to the table's width
        assert f"Pendingapprovals-{execution_id}" in "".join(out.split())
        assert "│ ask  │ ask  │ human    │" in out

        code, out = await jamjet(gw.url, "approve", execution_id, "--decision", "approved", "--comment", "ok")
        assert code == 0, out
        assert f"approved  node=ask  execution={execution_id}" in out
        await eventually(lambda: _completed(sdk, execution_id), message="never completed")

        # Without --no-tokens, jamjet 0.12.0's inspect fails on any event list after printing the
        # execution (it calls .startswith on the event kind, an object in the original's API too).
        code, out = await jamjet(gw.url, "inspect", execution_id, "--no-tokens")
        assert code == 0, out
        shown = json.loads(out[: out.rindex("}") + 1])
        assert (shown["execution_id"], shown["status"]) == (execution_id, "completed")

        code, out = await jamjet(gw.url, "events", execution_id)
        assert code == 0, out
        assert f"Events:{execution_id}" in "".join(out.split())
        for kind in ("workflow_started", "tool_approval_required", "approval_received", "workflow_completed"):
            assert kind in out

        code, out = await jamjet(gw.url, "workers")
        assert code == 0, out
        queues = [w["queue_type"] for w in json.loads(out)["workers"]]
        assert "python_tool" in queues and "general" in queues

        code, out = await jamjet(gw.url, "approve", execution_id, "--decision", "approved")
        assert code == 1
        assert "execution_terminal" in out


async def _pending(sdk: JamjetClient, execution_id: str) -> bool:
    return bool((await sdk.list_approvals(execution_id))["pending"])


async def _completed(sdk: JamjetClient, execution_id: str) -> bool:
    return (await sdk.get_execution(execution_id))["status"] == "completed"
