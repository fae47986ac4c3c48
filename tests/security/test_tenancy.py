"""Tenants are NATS accounts: each sees exactly its own executions, and cannot reach another's."""

from __future__ import annotations

import json

import pytest
from nats.aio.client import Client

from jamjet_client import RuntimeClient, is_terminal
from jamjet_common import subjects
from jamjet_common.events import Event, NodeCompleted, WorkflowCompleted
from tests.e2e import workflows
from tests.helpers import eventually
from tests.security.conftest import Secured, clients, four_services
from tests.security.support import ask, listen, ok, refused

pytestmark = pytest.mark.e2e


async def _create_tenants(sec: Secured) -> None:
    async with clients(sec, "operator") as (op,):
        for tenant in ("acme", "globex"):
            await ok(op, subjects.tenant_cmd("create"), {"id": tenant})


async def _run(nc: object, wf: str, data: dict[str, object]) -> str:
    answer = await ok(nc, subjects.CMD_START, {"workflow_id": wf, "input": data})  # type: ignore[arg-type]
    return str(answer["execution_id"])


async def _routed_to_the_end(nc: Client) -> tuple[RuntimeClient, str, Event]:
    """acme's ``routed`` run to its end through ``nc``: acme's own client, or a trusted one naming it."""
    client = RuntimeClient(nc, tenant="acme", timeout=20)
    await client.register(workflows.routed())
    started = await client.start("routed", {"go_left": True})
    result = await client.result(started.execution_id, timeout=60)
    assert isinstance(result.kind, WorkflowCompleted), result
    return client, started.execution_id, result


async def test_two_tenants_run_side_by_side_and_each_sees_only_its_own(secured: Secured) -> None:
    async with four_services(secured), clients(secured, "acme", "globex") as (acme, globex):
        await _create_tenants(secured)
        acme_events, globex_events = (
            await listen(acme, "jamjet.events.>"),
            await listen(globex, "jamjet.events.>"),
        )
        for nc in (acme, globex):
            await ok(nc, subjects.CMD_REGISTER, {"ir": workflows.routed()})
        mine = await _run(acme, "routed", {"go_left": True})
        theirs = await _run(globex, "routed", {"go_left": False})

        async def finished(nc: object, execution_id: str) -> bool:
            answer = await ask(nc, subjects.store("execution"), {"execution_id": execution_id})  # type: ignore[arg-type]
            return bool(answer.get("ok")) and answer["execution"]["status"] == "completed"

        await eventually(lambda: finished(acme, mine), timeout=60, message="acme's execution not stored")
        await eventually(
            lambda: finished(globex, theirs), timeout=60, message="globex's execution not stored"
        )
        assert {s.split(".")[2] for s in acme_events.subjects} == {"acme"}
        assert {s.split(".")[2] for s in globex_events.subjects} == {"globex"}
        assert {json.loads(m.data)["execution_id"] for m in acme_events.msgs} == {mine}
        listed = await ok(acme, subjects.store("executions"), {})
        assert [e["execution_id"] for e in listed["executions"]] == [mine]
        # Another tenant's execution does not exist for this one, by any query.
        crossed = await ask(acme, subjects.store("execution"), {"execution_id": theirs})
        assert crossed["error"]["code"] == "unknown_execution"
        crossed = await ask(acme, subjects.store("events"), {"execution_id": theirs})
        assert crossed["error"]["code"] == "unknown_execution"
        forged = await ask(acme, subjects.store("executions"), {"tenant": "globex"})
        assert forged["error"]["code"] == "tenant_mismatch"


async def test_a_tenant_cannot_command_another_tenants_execution(secured: Secured) -> None:
    async with four_services(secured), clients(secured, "acme", "globex") as (acme, globex):
        await _create_tenants(secured)
        await ok(globex, subjects.CMD_REGISTER, {"ir": workflows.timed(60)})
        theirs = await _run(globex, "timed", {"sleep": 30})
        forged = await ask(acme, subjects.CMD_CANCEL, {"execution_id": theirs, "tenant": "globex"})
        assert forged["error"]["code"] == "tenant_mismatch"
        unnamed = await ask(acme, subjects.CMD_CANCEL, {"execution_id": theirs})
        assert unnamed["error"]["code"] == "unknown_execution"
        signal = await ask(acme, subjects.CMD_SIGNALS, {"execution_id": theirs, "correlation_key": "k"})
        assert signal["error"]["code"] == "unknown_execution"
        # Nor start one of its workflows, nor read its IR.
        start = await ask(acme, subjects.CMD_START, {"workflow_id": "timed"})
        assert start["error"]["code"] == "unknown_workflow"
        ir = await ask(acme, subjects.store("workflow"), {"workflow_id": "timed"})
        assert ir["error"]["code"] == "unknown_workflow"
        assert (await ok(globex, subjects.CMD_CANCEL, {"execution_id": theirs}))["status"] == "cancelled"


async def test_a_tenants_client_follows_its_own_execution_to_the_end(secured: Secured) -> None:
    """A tenant's account has no JetStream: the client follows through the store and the live events."""
    async with four_services(secured), clients(secured, "acme") as (acme,):
        await _create_tenants(secured)
        client, execution_id, result = await _routed_to_the_end(acme)
        # Followed again once it is over: everything from the store, in order, ending at the terminal.
        events = [event async for event in client.events(execution_id)]
        assert [e.sequence for e in events] == list(range(1, len(events) + 1))
        assert events[-1] == result and is_terminal(events[-1])
        ran = {e.kind.node_id for e in events if isinstance(e.kind, NodeCompleted)}
        assert ran == {"root", "route", "left", "join"}


async def test_a_trusted_client_names_the_tenant_and_gets_every_answer(secured: Secured) -> None:
    """The gateway (the compose deploy's HTTP API) is a client of the service account: its commands
    arrive on the plain subjects, which the scheduler also watches for unknown commands, and each
    answer must still reach it."""
    async with four_services(secured), clients(secured, "gateway", "acme") as (gateway, acme):
        await _create_tenants(secured)
        _, execution_id, _ = await _routed_to_the_end(gateway)
        unknown = await ask(gateway, f"{subjects.CMD_PREFIX}.nonsense", {})
        assert unknown["error"]["code"] == "unknown_command"
        listed = await ok(acme, subjects.store("executions"), {})
        assert [e["execution_id"] for e in listed["executions"]] == [execution_id]
    assert "Violation" not in secured.server.output, secured.server.output


async def test_tenant_admin_commands_are_not_reachable_by_a_tenant(secured: Secured) -> None:
    async with clients(secured, "acme") as (acme,):
        body = json.dumps({"id": "globex"}).encode()
        for action in ("create", "update", "suspend", "get", "list"):
            assert await refused(acme, subjects.tenant_cmd(action), body)


async def test_a_tenant_reads_no_other_tenants_events_nor_the_streams(secured: Secured) -> None:
    async with clients(secured, "acme", "scheduler") as (acme, scheduler):
        inbox = await listen(acme, ">")
        js = scheduler.jetstream()
        await js.publish(subjects.append("globex", "exec_1"), b'{"x": 1}')
        await js.publish(subjects.append("acme", "exec_2"), b'{"x": 2}')
        await eventually(lambda: inbox.msgs, timeout=5, message="acme never saw its own event")
        assert inbox.subjects == [subjects.events("acme", "exec_2")]
        # JetStream is not in the tenant's account: no direct get, no stream info, no consumer.
        direct = f"$JS.API.DIRECT.GET.JAMJET_EVENTS.{subjects.events('globex', 'exec_1')}"
        assert await refused(acme, direct, b"")
        assert await refused(acme, "$JS.API.STREAM.MSG.GET.JAMJET_EVENTS", b'{"seq": 1}')
        assert await refused(acme, "$JS.API.STREAM.INFO.JAMJET_EVENTS", b"")


async def test_commands_sent_while_no_service_runs_are_kept_for_the_right_tenant(secured: Secured) -> None:
    async with clients(secured, "acme", "globex") as (acme, globex):
        async with four_services(secured):
            await _create_tenants(secured)
        # No service runs: the command is kept by the stream, on the subject that names acme.
        await acme.publish(subjects.CMD_REGISTER, json.dumps({"ir": workflows.routed()}).encode())
        await acme.flush()
        async with four_services(secured):
            body = {"workflow_id": "routed", "input": {"go_left": True}}
            started = await eventually(lambda: ok(acme, subjects.CMD_START, body), timeout=30)
            missing = await ask(globex, subjects.CMD_START, body)
            assert missing["error"]["code"] == "unknown_workflow"

            async def completed() -> bool:
                answer = await ask(
                    acme, subjects.store("execution"), {"execution_id": started["execution_id"]}
                )
                return bool(answer.get("ok")) and answer["execution"]["status"] == "completed"

            await eventually(completed, timeout=60, message="acme's kept workflow did not run")
