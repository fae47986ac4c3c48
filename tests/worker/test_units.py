"""Small pieces of the worker: configuration, decoding work items, policy replies."""

from __future__ import annotations

import msgspec
import pytest

from jamjet_common.codec import ENCODER, error_reply
from jamjet_common.config import ConfigError, Env
from jamjet_common.errors import ContractError, MalformedJsonError
from jamjet_common.messages import LogPosition, PolicyDecision
from jamjet_common.tail import Tail
from services.worker.config import DEFAULT_QUEUES, WorkerConfig
from services.worker.pipeline import decode_item
from services.worker.policy_client import PolicyRefusedError, PolicyUnavailableError, parse_decision
from services.worker.recorder import _scheduled
from tests.worker.builders import fn_node, work_item

# ---- configuration -------------------------------------------------------------------------------------


def test_config_defaults() -> None:
    config = WorkerConfig.from_env(Env({}))
    assert config.queues == DEFAULT_QUEUES
    assert (config.concurrency, config.lease_secs, config.heartbeat_secs) == (200, 30.0, 10.0)
    assert config.sandbox.python.allowed is None and not config.sandbox.python.dev_mode


def test_config_reads_the_environment() -> None:
    config = WorkerConfig.from_env(
        Env(
            {
                "JAMJET_WORKER_QUEUES": "python_tool, general,python_tool",
                "JAMJET_WORKER_CONCURRENCY": "4",
                "JAMJET_LEASE_SECS": "6",
                "JAMJET_PYTHON_ALLOWED_MODULES": "app.nodes,tests",
            }
        )
    )
    assert config.queues == ("python_tool", "general")
    assert (config.concurrency, config.heartbeat_secs) == (4, 2.0)
    assert config.sandbox.python.allowed == ("app.nodes", "tests")


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"JAMJET_WORKER_QUEUES": "general,bad.queue"}, "JAMJET_WORKER_QUEUES"),
        ({"JAMJET_WORKER_QUEUES": " , "}, "JAMJET_WORKER_QUEUES"),
        ({"JAMJET_WORKER_CONCURRENCY": "0"}, "JAMJET_WORKER_CONCURRENCY"),
        ({"JAMJET_LEASE_SECS": "soon"}, "JAMJET_LEASE_SECS"),
        ({"JAMJET_DEV_MODE": "maybe"}, "JAMJET_DEV_MODE"),
        ({"JAMJET_MCP_ALLOWED_COMMANDS": "no-such-command-here"}, "JAMJET_MCP_ALLOWED_COMMANDS"),
        ({"JAMJET_TOOL_DENIED_NETWORKS": "10.0.0.0/33"}, "JAMJET_TOOL_DENIED_NETWORKS"),
        ({"JAMJET_SECRETS_FILE": "/nonexistent/secrets.json"}, "JAMJET_SECRETS_FILE"),
    ],
)
def test_config_errors_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        WorkerConfig.from_env(Env(env))


# ---- decoding work items -------------------------------------------------------------------------------


def test_work_item_round_trips() -> None:
    item = work_item(fn_node("greet"), {"name": "ada"})
    assert decode_item(ENCODER.encode(item)) == item


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"{not json", MalformedJsonError),
        (b'{"execution_id": "e"}', ContractError),
        (
            ENCODER.encode(work_item(fn_node("greet"), execution_id="exec.with.dots")),
            ContractError,
        ),
        (ENCODER.encode(work_item(fn_node("greet"), tenant="a b")), ContractError),
    ],
)
def test_bad_work_items_raise_contract_errors(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode_item(data)


def test_malformed_condition_branches_are_rejected_at_decode() -> None:
    raw = ENCODER.encode(work_item(fn_node("greet"))).replace(
        b'"kind":{"type":"python_fn","module":"tests.worker.fns","function":"greet"}',
        b'"kind":{"type":"condition","branches":"not a list"}',
    )
    with pytest.raises(ContractError, match="branches"):
        decode_item(raw)


# ---- policy replies ------------------------------------------------------------------------------------


def test_policy_decision_reply_is_parsed() -> None:
    reply = b'{"ok": true, "decision": "block", "reason": "no", "policy_scope": "workflow"}'
    assert parse_decision(reply) == PolicyDecision(decision="block", reason="no", policy_scope="workflow")


def test_transient_policy_error_means_unavailable() -> None:
    with pytest.raises(PolicyUnavailableError, match="internal_error"):
        parse_decision(error_reply("internal_error", "boom"))


def test_unreadable_policy_reply_means_unavailable() -> None:
    with pytest.raises(PolicyUnavailableError, match="unreadable"):
        parse_decision(b"<html>")


def test_permanent_policy_error_is_a_refusal() -> None:
    with pytest.raises(PolicyRefusedError) as caught:
        parse_decision(error_reply("unknown_tenant", "tenant 'acme' does not exist"))
    assert caught.value.message == "policy evaluation refused: unknown_tenant: tenant 'acme' does not exist"


# ---- where a first start is appended ---------------------------------------------------------------------


def test_a_first_start_follows_the_rest_of_its_pass_when_the_item_says_it_is_open_to_there() -> None:
    item = work_item(fn_node("ok"), scheduled_at=LogPosition(sequence=3, stream_seq=40))
    assert _scheduled(item) == Tail(3, 40)
    ahead = msgspec.structs.replace(item, open_to=LogPosition(sequence=9, stream_seq=57))
    assert _scheduled(ahead) == Tail(9, 57)
    # A position before the dispatch's own NodeScheduled is no such promise: it is not used.
    behind = msgspec.structs.replace(item, open_to=LogPosition(sequence=2, stream_seq=41))
    assert _scheduled(behind) == Tail(3, 40)
