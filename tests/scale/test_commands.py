"""Commands on a 3-node NATS cluster: the command stream's leader SIGKILLed during 300 starts.

Starts published while the stream elects a new leader are not stored (the stream is no_ack); the
sender asks again, unchanged, until answered (``jamjet_common.asking``). A start stored but
handled while NATS does not answer the scheduler (its server died, or the events stream's leader did) is
tried again until NATS answers, not answered with an error. Every execution must then run
exactly once: one WorkflowStarted, terminal, and the fault suite's invariants.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.aio.msg import Msg

from jamjet_client import RuntimeClient
from jamjet_common import streams, subjects
from jamjet_common.asking import ATTEMPT_TIMEOUT_SECS, ask_until_answered
from jamjet_common.local.nats_cluster import LocalNatsCluster
from tests.faults.harness import FaultHarness, open_harness
from tests.faults.invariants import Check
from tests.faults.report import ScenarioReport
from tests.faults.workflows import Planned
from tests.scale.test_partitions import WORKFLOW, noop_workflow

STARTS = 300
STARTS_PER_SECOND = 40


@pytest.fixture
async def cluster_harness(
    nats_cluster: LocalNatsCluster, database_url: str, tmp_path: Path
) -> AsyncIterator[FaultHarness]:
    nc = await nats.connect(servers=nats_cluster.urls, max_reconnect_attempts=-1)
    report = ScenarioReport("command_leader_killed")
    # One attempt for a failing command: the starts that meet the election must not use up the poison
    # policy's attempts, however short it is (router.OUTAGE_ATTEMPTS).
    settings = {"JAMJET_STREAM_REPLICAS": "3", "JAMJET_MAX_COMMAND_ATTEMPTS": "1"}
    try:
        async with open_harness(
            report, nats_cluster, nc, database_url, tmp_path / "logs", settings=settings
        ) as built:  # type: ignore[arg-type]
            yield built
    finally:
        await nc.close()


async def start(harness: FaultHarness, planned: Planned) -> dict[str, object]:
    """Every other start through the typed client, the others through the plain-client helper."""
    if int(planned.execution_id[-1], 16) % 2:
        client = RuntimeClient(harness.nc, timeout=ATTEMPT_TIMEOUT_SECS)
        started = await client.start(
            planned.workflow_id, execution_id=planned.execution_id, deadline_secs=120
        )
        return {"ok": started.execution_id == planned.execution_id}
    body = {"workflow_id": planned.workflow_id, "execution_id": planned.execution_id, "input": {}}
    data = await ask_until_answered(
        harness.nc, subjects.CMD_START, json.dumps(body).encode(), deadline_secs=120
    )
    answer: dict[str, object] = json.loads(data)
    return answer


async def drive(
    harness: FaultHarness, planned: list[Planned], tasks: list[asyncio.Task[dict[str, object]]]
) -> list[dict[str, object]]:
    harness.planned.update((p.execution_id, p) for p in planned)
    harness.report.executions += len(planned)
    for execution in planned:
        tasks.append(asyncio.create_task(start(harness, execution)))
        await asyncio.sleep(1 / STARTS_PER_SECOND)
    return await asyncio.gather(*tasks)


async def kill_command_leader(harness: FaultHarness, cluster: LocalNatsCluster) -> None:
    info = await harness.js.stream_info(streams.CMDS)
    assert info.cluster is not None and info.cluster.leader is not None
    leader = info.cluster.leader
    await cluster.servers[int(leader.removeprefix("n")) - 1].akill()
    harness.report.fault(f"SIGKILL {leader}, the {streams.CMDS} leader ({harness.terminal()} terminal)")


def started_once(harness: FaultHarness, answers: list[dict[str, object]]) -> Check:
    problems = [f"refused: {a}" for a in answers if not a.get("ok")]
    for execution_id in harness.planned:
        starts = [
            e
            for e in harness.watch.by_execution().get(execution_id, [])
            if e["kind"]["type"] == "workflow_started"
        ]
        if len(starts) != 1:
            problems.append(f"{execution_id}: {len(starts)} workflow_started")
    return Check("C1", "every start answered, every execution started once", tuple(problems))


async def count_attempts(harness: FaultHarness) -> list[int]:
    """Every start sent, first tries and repeats, as heard on plain NATS."""
    seen = [0]

    async def heard(msg: Msg) -> None:
        seen[0] += 1

    await harness.nc.subscribe(subjects.CMD_START, cb=heard)
    return seen


def retried(repeats: int) -> Check:
    problems = () if repeats > 0 else ("no start went unanswered: the leader's death was not felt",)
    return Check(
        "C2", "starts unanswered during the election were asked again", problems, f"{repeats} repeats"
    )


async def test_starts_survive_the_command_leader_dying(
    cluster_harness: FaultHarness, nats_cluster: LocalNatsCluster
) -> None:
    harness = cluster_harness
    ir = noop_workflow()
    harness.workflows[WORKFLOW] = ir
    await harness.ask(subjects.CMD_REGISTER, {"ir": ir})
    planned = [Planned(f"exec_{uuid.uuid4().hex}", WORKFLOW, "noop") for _ in range(STARTS)]
    attempts = await count_attempts(harness)
    sent: list[asyncio.Task[dict[str, object]]] = []
    driving = asyncio.create_task(drive(harness, planned, sent))
    await harness.until(lambda: len(sent) >= STARTS // 3, timeout=60)
    await kill_command_leader(harness, nats_cluster)
    answers = await driving
    await harness.finish(timeout=180)
    harness.add_check(started_once(harness, answers))
    harness.add_check(retried(attempts[0] - STARTS))
    harness.verdict()
