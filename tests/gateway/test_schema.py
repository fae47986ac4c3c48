"""Schemathesis against /openapi.json: no 5xx, and every response as the document says (bounded run)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from jamjet_client import RuntimeClient
from tests.e2e import workflows
from tests.e2e.stack import Stack, services
from tests.gateway.support import ALICE, gateway

pytestmark = pytest.mark.e2e
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


async def test_the_api_does_what_its_openapi_document_says(stack: Stack, tmp_path: Path) -> None:
    async with services(stack), gateway(stack) as gw:
        client = RuntimeClient(stack.nc)
        await client.register(workflows.routed())
        await client.result((await client.start("routed")).execution_id, timeout=30)
        command = [
            str(Path(sys.executable).with_name("st")),
            "run",
            f"{gw.url}/openapi.json",
            f"--checks={CHECKS}",
            f"--header=Authorization: Bearer {ALICE}",
            "--max-examples=12",
            "--max-time=45",
            "--phases=examples,coverage,fuzzing",
            "--workers=1",
            "--request-timeout=20",
            "--generation-database=none",
            "--seed=7",
            "--no-color",
            "--max-failures=5",
            # An SSE stream that ends only when the client leaves: a fuzzer would wait on it forever.
            "--exclude-path=/stream/executions",
        ]
        env = {**os.environ, "SCHEMATHESIS_HOOKS": "", "HOME": str(tmp_path)}
        proc = await asyncio.create_subprocess_exec(
            *command, cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        out, _ = await asyncio.wait_for(proc.communicate(), timeout=240)
    report = out.decode(errors="replace")
    assert proc.returncode == 0, report[-6000:]
