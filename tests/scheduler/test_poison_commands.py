"""Tenant records, poison commands and poison timers through the running scheduler and policy service.

A record is checked against its schema where it is written; one that is unreadable anyway costs the
commands that need it a bounded number of attempts, then a specific answer and a dead letter, never a
redelivery loop, and the other tenants never notice.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from jamjet_common import streams, subjects
from jamjet_common.codec import ENCODER
from jamjet_common.config import Env
from jamjet_common.eventlog import EMPTY, EventLog
from jamjet_common.events import WorkflowStarted
from jamjet_common.messages import WorkflowTimer
from services.scheduler.service import SchedulerService
from tests.harness import running, service_env
from tests.helpers import eventually
from tests.policy.support import build as build_policy
from tests.scheduler.builders import fn, workflow

ATTEMPTS = 3
GOOD = workflow([fn("a")], [("a", "end")])
UNREADABLE_TENANT = {
    "id": "broken",
    "name": "broken",
    "limits": {"max_concurrent_executions": "ten"},
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-01T00:00:00Z",
}


async def ask(nc: Client, subject: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = await nc.request(subject, json.dumps(body).encode(), timeout=15)
    answer: dict[str, Any] = json.loads(reply.data)
    return answer


def refused(reply: dict[str, Any], code: str) -> str:
    assert reply["ok"] is False and reply["error"]["code"] == code, reply
    message: str = reply["error"]["message"]
    return message


@pytest.fixture
async def services(nats_url: str) -> AsyncIterator[None]:
    env = Env(service_env(nats_url, JAMJET_MAX_COMMAND_ATTEMPTS=str(ATTEMPTS)))
    async with (
        running(SchedulerService.from_env(env)),
        running(build_policy(nats_url, JAMJET_MAX_COMMAND_ATTEMPTS=str(ATTEMPTS))),
    ):
        yield


@pytest.fixture
async def dead_letters(nc: Client) -> AsyncIterator[list[dict[str, Any]]]:
    kept: list[dict[str, Any]] = []

    async def keep(msg: Msg) -> None:
        kept.append(json.loads(msg.data))

    sub = await nc.subscribe(subjects.DLQ_DECODE, cb=keep)
    await nc.flush()
    yield kept
    await sub.unsubscribe()


@pytest.mark.parametrize("action", ["create", "update"])
async def test_a_wrong_typed_limit_is_refused_naming_field_and_type(
    services: None, nc: Client, action: str
) -> None:
    if action == "update":
        assert (await ask(nc, subjects.tenant_cmd("create"), {"id": "acme"}))["ok"]
    body = {"id": "acme", "limits": {"max_concurrent_executions": "ten"}}
    message = refused(await ask(nc, subjects.tenant_cmd(action), body), "invalid_tenant")
    assert "limits.max_concurrent_executions" in message and "int" in message and "str" in message
    # Nothing that would poison the scheduler was stored.
    stored = await ask(nc, subjects.tenant_cmd("get"), {"id": "acme"})
    if action == "create":
        refused(stored, "unknown_tenant")
    else:
        assert stored["tenant"]["limits"] is None
        assert (await ask(nc, subjects.CMD_REGISTER, {"ir": GOOD, "tenant": "acme"}))["ok"] is True


async def test_negative_limits_and_unknown_limit_keys(services: None, nc: Client) -> None:
    negative = {"id": "acme", "limits": {"max_tokens_per_month": -1}}
    assert ">= 0" in refused(await ask(nc, subjects.tenant_cmd("create"), negative), "invalid_tenant")
    other = {"id": "acme", "limits": {"max_concurrent_executions": 2, "max_seats": "many"}}
    created = await ask(nc, subjects.tenant_cmd("create"), other)
    assert created["tenant"]["limits"] == other["limits"], "keys the schema does not know are kept"


async def test_an_unreadable_tenant_record_costs_n_attempts_then_a_dead_letter(
    services: None, nc: Client, dead_letters: list[dict[str, Any]]
) -> None:
    kv = await nc.jetstream().key_value(streams.KV_TENANTS)
    await kv.put("broken", json.dumps(UNREADABLE_TENANT).encode())
    assert (await ask(nc, subjects.CMD_REGISTER, {"ir": GOOD}))["ok"]
    poisoned = asyncio.create_task(ask(nc, subjects.CMD_START, {"workflow_id": "wf", "tenant": "broken"}))
    # Another tenant's commands go through while the poisoned one is being retried.
    started = await ask(nc, subjects.CMD_START, {"workflow_id": "wf"})
    assert started["ok"] is True
    message = refused(await poisoned, "unreadable_record")
    assert "broken" in message and "limits.max_concurrent_executions" in message
    letter = await eventually(lambda: [d for d in dead_letters if d["subject"] == subjects.CMD_START])
    assert letter[0]["service"] == "scheduler"
    assert letter[0]["error"]["code"] == "unreadable_record" and letter[0]["attempts"] == ATTEMPTS
    assert json.loads(letter[0]["payload"])["tenant"] == "broken"
    await eventually(lambda: _settled(nc), message="the poisoned command is still in JAMJET_CMDS")


async def test_the_policy_service_gives_up_on_an_unreadable_record_the_same_way(
    services: None, nc: Client, dead_letters: list[dict[str, Any]]
) -> None:
    kv = await nc.jetstream().key_value(streams.KV_TENANTS)
    await kv.put("broken", json.dumps(UNREADABLE_TENANT).encode())
    reply = await ask(nc, subjects.tenant_cmd("suspend"), {"id": "broken"})
    assert "limits.max_concurrent_executions" in refused(reply, "unreadable_record")
    letter = await eventually(
        lambda: [d for d in dead_letters if d["subject"] == subjects.tenant_cmd("suspend")]
    )
    assert letter[0]["service"] == "policy" and letter[0]["attempts"] == ATTEMPTS
    assert (await ask(nc, subjects.tenant_cmd("create"), {"id": "fine"}))["ok"] is True
    await eventually(lambda: _settled(nc), message="the poisoned command is still in JAMJET_CMDS")


async def test_an_empty_execution_id_is_an_invalid_token(services: None, nc: Client) -> None:
    assert (await ask(nc, subjects.CMD_REGISTER, {"ir": GOOD}))["ok"]
    reply = await ask(nc, subjects.CMD_START, {"workflow_id": "wf", "execution_id": ""})
    assert "execution_id" in refused(reply, "invalid_token")


async def test_a_timer_that_keeps_failing_costs_n_attempts_then_a_dead_letter(
    services: None, nc: Client, dead_letters: list[dict[str, Any]]
) -> None:
    """A due timer of an execution whose workflow is not registered fails every time it fires."""
    js = nc.jetstream()
    started = WorkflowStarted(workflow_id="ghost", workflow_version="1.0.0", initial_input={})
    await EventLog(nc, js).append_after("default", "exec_ghost", started, EMPTY)
    timer = WorkflowTimer(
        execution_id="exec_ghost", tenant="default", due_at=datetime.now(UTC), timeout_secs=1.0
    )
    subject = subjects.timer("default", "exec_ghost")
    await js.publish(subject, ENCODER.encode(timer))
    letter = await eventually(lambda: [d for d in dead_letters if d["subject"] == subject], timeout=30)
    assert letter[0]["service"] == "scheduler" and letter[0]["attempts"] == ATTEMPTS
    assert letter[0]["error"]["code"] == "unknown_workflow" and "ghost" in letter[0]["error"]["message"]
    await eventually(lambda: _timers_settled(js), message="the failing timer is still in JAMJET_TIMERS")


async def _timers_settled(js: JetStreamContext) -> bool:
    info = await js.consumer_info(streams.TIMERS, streams.SCHEDULER_TIMERS_CONSUMER)
    return info.num_pending == 0 and info.num_ack_pending == 0


async def _settled(nc: Client) -> bool:
    info = await nc.jetstream().stream_info(streams.CMDS)
    return info.state.messages == 0
