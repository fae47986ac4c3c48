"""Least privilege: only the service that owns a subject may publish or answer on it, and only the
operator may use the JetStream admin API. Every attack below succeeds against a server without auth."""

from __future__ import annotations

import json

import pytest
from nats.aio.client import Client
from nats.js.errors import NotFoundError

from jamjet_client.follow import replay
from jamjet_common import streams, subjects
from jamjet_common.config import Env
from jamjet_common.local.nats_server import LocalNatsServer
from jamjet_common.streams import StreamLimits, StreamsMissingError, ensure_streams
from services.admin.accounts import AuthDir
from tests.helpers import eventually
from tests.security.conftest import Secured, clients, four_services
from tests.security.support import ask, listen, ok, refused, settle

pytestmark = pytest.mark.e2e

FORGED = {
    "append": (streams.EVENTS, subjects.append("acme", "exec_x")),
    "work item": (streams.WORK, subjects.work("default")),
    "timer": (streams.TIMERS, subjects.timer("acme", "exec_x")),
    "decode dead letter": (streams.DLQ, subjects.DLQ_DECODE),
}


async def _stored(op: Client, stream: str, subject: str) -> bool:
    try:
        await op.jetstream().get_last_msg(stream, subject)
    except NotFoundError:
        return False
    return True


async def _publish_everything(nc: Client) -> None:
    for _, subject in FORGED.values():
        await nc.publish(subject, b'{"forged": true}')
    await nc.publish(subjects.cancel("acme", "exec_x"), b'{"forged": true}')
    await nc.flush()


@pytest.mark.parametrize("attacker", ["acme", "policy", "event-store", "gateway"])
async def test_appends_work_items_and_timers_from_others_are_not_stored(
    secured: Secured, attacker: str
) -> None:
    async with clients(secured, attacker, "operator") as (nc, op):
        await _publish_everything(nc)
        await settle()
        for what, (stream, subject) in FORGED.items():
            # The decode dead letter is every service's to write; a tenant's still is not stored.
            if what == "decode dead letter" and attacker != "acme":
                continue
            assert not await _stored(op, stream, subject), f"{attacker}'s forged {what} was stored"


async def test_the_scheduler_and_workers_append_and_only_the_scheduler_dispatches(secured: Secured) -> None:
    async with clients(secured, "scheduler", "worker", "operator") as (scheduler, worker, op):
        await worker.publish(subjects.append("acme", "exec_w"), b"{}")
        await worker.publish(subjects.work("default"), b"{}")
        await scheduler.publish(subjects.timer("acme", "exec_s"), b"{}")
        await scheduler.flush()
        await worker.flush()
        await eventually(
            lambda: _stored(
                op, streams.EVENTS, subjects.append("acme", "exec_w").replace("append", "events")
            ),
            timeout=5,
        )
        await eventually(lambda: _stored(op, streams.TIMERS, subjects.timer("acme", "exec_s")), timeout=5)
        assert not await _stored(op, streams.WORK, subjects.work("default"))


async def test_cancel_notices_reach_workers_only_from_the_scheduler(secured: Secured) -> None:
    async with clients(secured, "worker", "acme", "policy", "scheduler") as (worker, acme, policy, scheduler):
        heard = await listen(worker, subjects.CANCEL_ALL)
        for nc in (acme, policy):
            await nc.publish(subjects.cancel("acme", "exec_x"), b"{}")
            await nc.flush()
        await scheduler.publish(subjects.cancel("acme", "exec_real"), b"{}")
        await eventually(lambda: heard.msgs, timeout=5, message="the scheduler's notice never arrived")
        await settle()
        assert heard.subjects == [subjects.cancel("acme", "exec_real")]


@pytest.mark.parametrize("attacker", ["acme", "worker", "scheduler", "event-store"])
async def test_only_the_policy_service_answers_policy_requests(secured: Secured, attacker: str) -> None:
    async with four_services(secured), clients(secured, attacker, "worker") as (nc, worker):
        stolen = await listen(nc, subjects.POLICY_EVALUATE, queue="jamjet-policy")
        stolen_all = await listen(nc, ">")
        body = {"tenant": "default", "node_id": "n", "node_kind": "tool", "action": "tool:rm"}
        for _ in range(10):
            reply = await worker.request(subjects.POLICY_EVALUATE, json.dumps(body).encode(), timeout=10)
            assert b'"forged"' not in reply.data
        assert not stolen.msgs and not [s for s in stolen_all.subjects if "policy" in s]


@pytest.mark.parametrize("attacker", ["acme", "worker", "scheduler", "policy"])
async def test_only_the_event_store_answers_store_queries(secured: Secured, attacker: str) -> None:
    async with clients(secured, attacker, "gateway") as (nc, gateway):
        stolen = await listen(nc, f"{subjects.STORE_PREFIX}.>", queue="jamjet-event-store")
        scoped = await listen(nc, f"{subjects.TENANT_SCOPE}.*.store.>")
        assert await refused(gateway, subjects.store("executions"))
        assert not stolen.msgs and not scoped.msgs


@pytest.mark.parametrize("attacker", ["acme", "scheduler", "worker", "policy", "event-store", "gateway"])
async def test_only_the_operator_may_purge_or_delete_streams(secured: Secured, attacker: str) -> None:
    async with clients(secured, attacker, "operator", "scheduler") as (nc, op, scheduler):
        await scheduler.jetstream().publish(subjects.append("acme", "exec_p"), b"{}")
        for api in (
            f"$JS.API.STREAM.PURGE.{streams.EVENTS}",
            f"$JS.API.STREAM.DELETE.{streams.EVENTS}",
            f"$JS.API.STREAM.MSG.DELETE.{streams.EVENTS}",
            f"$JS.API.CONSUMER.DELETE.{streams.CMDS}.{streams.SCHEDULER_CMDS_CONSUMER}",
            f"$JS.API.STREAM.UPDATE.{streams.EVENTS}",
            "$JS.API.STREAM.CREATE.STOLEN",
        ):
            assert await refused(nc, api, b'{"seq": 1, "name": "STOLEN", "subjects": ["jamjet.>"]}'), api
        info = await op.jetstream().stream_info(streams.EVENTS)
        assert info.state.messages == 1
        # The operator may: the refusals above are permissions, not a broken API.
        await op.jetstream().purge_stream(streams.EVENTS)
        assert (await op.jetstream().stream_info(streams.EVENTS)).state.messages == 0


async def test_services_run_without_a_single_permission_violation(secured: Secured) -> None:
    async with four_services(secured), clients(secured, "acme", "operator") as (acme, op):
        await ask(op, subjects.tenant_cmd("create"), {"id": "acme"})
        from tests.e2e import workflows

        await ok(acme, subjects.CMD_REGISTER, {"ir": workflows.routed()})
        started = await ok(acme, subjects.CMD_START, {"workflow_id": "routed", "input": {"go_left": True}})

        async def done() -> bool:
            got = await ask(op, subjects.store("execution"), {"execution_id": started["execution_id"]})
            return got["execution"]["status"] == "completed"

        await eventually(done, timeout=60)
    assert "Violation" not in secured.server.output, secured.server.output


async def test_a_trusted_client_in_the_service_account_is_answered(secured: Secured) -> None:
    """The scheduler answers a stored command of the gateway (its own ``_INBOX_gateway``, not a tenant's
    ``_R_``) through its one allowed response, and so does the policy service."""
    from tests.e2e import workflows

    async with four_services(secured), clients(secured, "gateway") as (gateway,):
        body = {"ir": workflows.routed(), "tenant": "default"}
        assert (await ok(gateway, subjects.CMD_REGISTER, body))["workflow_id"] == "routed"
        unknown = await ask(gateway, "jamjet.cmd.nothing", {})
        assert unknown["error"]["code"] == "unknown_command"
        card = {"uri": "https://agents.example/a", "name": "a"}
        await ok(gateway, subjects.agent_cmd("register"), {"card": card, "tenant": "acme"})
    assert "Violation" not in secured.server.output, secured.server.output


async def test_a_service_without_the_admin_api_needs_the_streams_created_by_the_operator(
    secured_server: LocalNatsServer, auth: AuthDir
) -> None:
    sec = Secured(secured_server, auth, database_url="")
    limits = StreamLimits.from_env(Env({}))
    async with clients(sec, "policy", "operator") as (policy, op):
        with pytest.raises(StreamsMissingError, match="jamjet-admin init"):
            await ensure_streams(policy.jetstream(timeout=2), limits, create=False)
        await ensure_streams(op.jetstream(timeout=10), limits)
        await ensure_streams(policy.jetstream(timeout=2), limits, create=False)


async def test_a_service_user_reads_only_its_own_replies(secured: Secured) -> None:
    async with four_services(secured), clients(secured, "worker", "gateway") as (worker, gateway):
        sniffed = await listen(worker, "_INBOX_gateway.>")
        shared = await listen(worker, "_INBOX.>")
        await ok(gateway, subjects.store("executions"), {})
        await settle()
        assert not sniffed.msgs and not shared.msgs


async def test_the_gateway_may_replay_an_executions_events_from_the_stream(secured: Secured) -> None:
    """Its SSE followers read the EVENTS stream through an ordered consumer, not waiting for the store."""

    async def ignore(msg: object) -> None:
        return None

    async with four_services(secured), clients(secured, "gateway") as (gateway,):
        sub = await replay(gateway, subjects.events("acme", "exec_x"), ignore)
        assert sub is not None, "the gateway may not create a consumer on the EVENTS stream"
        await sub.unsubscribe()
