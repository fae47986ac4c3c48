"""LangGraph (Postgres checkpointer, sync durability) run from ``../shared/peers`` in the same invocation.

The peer needs its own interpreter (``PEERS_PYTHON``, default ``.venv-peers/bin/python``, made by
``make bench-peers-venv``) and a fresh ``peers_langgraph`` database on the same Postgres.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
from pathlib import Path
from typing import Any

from jamjet_common.local.postgres import create_database, drop_database

ROOT = Path(__file__).resolve().parent.parent
PEERS_DIR = Path(os.environ.get("PEERS_DIR", ROOT.parent / "shared" / "peers"))
PEERS_PYTHON = os.environ.get("PEERS_PYTHON", str(ROOT / ".venv-peers" / "bin" / "python"))
DATABASE = "peers_langgraph"


async def langgraph_once(server_url: str) -> dict[str, Any]:
    await drop_database(server_url, DATABASE)
    await create_database(server_url, DATABASE)
    proc = await asyncio.create_subprocess_exec(
        PEERS_PYTHON,
        str(PEERS_DIR / "peers" / "langgraph_bench.py"),
        "--durability",
        "sync",
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"the LangGraph peer failed (exit {proc.returncode})")
    result: dict[str, Any] = json.loads(out)
    return result


async def langgraph(server_url: str, runs: int) -> dict[str, float]:
    """Medians over ``runs`` runs (each with the peer's own warm-up) of the figures compared."""
    results = [await langgraph_once(server_url) for _ in range(runs)]
    return {
        "per_step_ms": statistics.median(r["w1_chain10"]["per_step_p50_ms"] for r in results),
        "w1_machine_cpu_ms_per_step": statistics.median(
            r["w1_chain10"]["machine_cpu_ms_per_step"] for r in results
        ),
        "steps_per_s": statistics.median(r["w2_diamond"]["steps_per_s"] for r in results),
        "w2_machine_cpu_ms_per_step": statistics.median(
            r["w2_diamond"]["machine_cpu_ms_per_step"] for r in results
        ),
    }


def report(w1: dict[str, float], w2: dict[str, float], peer: dict[str, float]) -> None:
    print("\n| workload | metric | jamjet | LangGraph (sync) | ratio |\n|---|---|---|---|---|")
    w1_ratio = w1["per_step_ms"] / peer["per_step_ms"]
    w2_ratio = w2["steps_per_s"] / peer["steps_per_s"]
    w1_row = f"{w1['per_step_ms']:.2f} | {peer['per_step_ms']:.2f} | {w1_ratio:.2f}"
    print(f"| W1 chain10 | ms/step p50 | {w1_row} |")
    print(f"| W2 diamond | steps/s | {w2['steps_per_s']:.0f} | {peer['steps_per_s']:.0f} | {w2_ratio:.2f} |")
    print(
        f"| W2 diamond | CPU ms/step | {w2['cpu_ms_per_step']:.2f} (services + nats) "
        f"| {peer['w2_machine_cpu_ms_per_step']:.2f} (machine-wide) | |"
    )
    print("\nW1 ratio < 1: jamjet is faster per step; W2 ratio > 1: jamjet has the higher throughput.")
