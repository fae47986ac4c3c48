"""An SDK ``Agent``'s model-chosen tool calls are policy subjects, whatever the model answers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from jamjet import Agent
from jamjet.agents.governance import Budget

from tests.e2e.stack import Stack, services
from tests.executors.fake_http import FakeHttpServer
from tests.sdk import agent_tools
from tests.sdk.agent_tools import delete_records, lookup_customer, ran, send_invoice
from tests.sdk.fake_llm import call, fake_llm, model_env, script
from tests.sdk.support import decide, events, execution, finished, held, request, run_agent

pytestmark = pytest.mark.e2e
TOOLS = [lookup_customer, delete_records, send_invoice]


@pytest.fixture
async def llm() -> AsyncIterator[FakeHttpServer]:
    agent_tools.RUNS.clear()
    async with fake_llm() as server:
        yield server


def agent(name: str = "support_bot", **governance: object) -> Agent:
    return Agent(name, model="gpt-4o-mini", tools=TOOLS, instructions="Help the customer.", **governance)  # type: ignore[arg-type]


async def test_a_blocked_tool_never_runs_and_the_violation_names_it(
    stack: Stack, llm: FakeHttpServer
) -> None:
    bot = agent(policy={"blocked_tools": ["delete_*"]})
    prompt = script([call("lookup_customer", customer_id="c1")], [call("delete_records", table="customers")])
    async with services(stack, **model_env(llm)):
        execution_id = await run_agent(stack, bot, prompt)
        assert await finished(stack, execution_id) == "workflow_failed"
    assert ran("delete_records") == [] and ran("lookup_customer") == [{"customer_id": "c1"}]
    [violation] = events(stack, execution_id, "policy_violation")
    assert violation["node_id"] == "__tools_1__" and violation["policy_scope"] == "workflow"
    assert "'delete_records'" in violation["rule"] and "'delete_*'" in violation["rule"]
    [failed] = [f for f in events(stack, execution_id, "node_failed") if f["node_id"] == "__tools_1__"]
    assert failed["retryable"] is False and failed["error"].startswith(
        "blocked by policy: tool 'delete_records'"
    )


SPELLINGS = [
    "DELETE_RECORDS",
    "Delete_Records",
    " delete_records",
    "delete_records ",
    "delete_records\u200b",
    "d\u0435lete_records",  # Cyrillic e
    "\uff44elete_records",  # fullwidth d
    "tools/delete_records",
    "../delete_records",
    "agent_tools:delete_records",
    "tests.sdk.agent_tools.delete_records",
]


async def test_no_spelling_of_a_blocked_tool_runs_it(stack: Stack, llm: FakeHttpServer) -> None:
    bot = agent(policy={"blocked_tools": ["delete_*"]})
    async with services(stack, **model_env(llm)):
        runs = [await run_agent(stack, bot, script([call(name, table="customers")])) for name in SPELLINGS]
        outcomes = [await finished(stack, execution_id) for execution_id in runs]
    assert ran("delete_records") == []
    assert outcomes == ["workflow_failed"] * len(SPELLINGS)


async def test_a_blocked_call_stops_the_whole_turn_before_any_call_runs(
    stack: Stack, llm: FakeHttpServer
) -> None:
    bot = agent(policy={"blocked_tools": ["delete_*"]})
    # The arguments try to pass for an allowed tool; only the name counts, and it is blocked.
    turn = [
        call("lookup_customer", customer_id="c1"),
        call("delete_records", table="x", name="lookup_customer"),
    ]
    async with services(stack, **model_env(llm)):
        execution_id = await run_agent(stack, bot, script(turn))
        assert await finished(stack, execution_id) == "workflow_failed"
    assert agent_tools.RUNS == []
    assert len(events(stack, execution_id, "policy_violation")) == 1


async def test_a_named_approval_holds_exactly_the_named_tool(stack: Stack, llm: FakeHttpServer) -> None:
    bot = agent(approval_required=["send_*"])
    prompt = script(
        [call("lookup_customer", customer_id="c7")], [call("send_invoice", customer_id="c7", amount=120.5)]
    )
    async with services(stack, **model_env(llm)):
        execution_id = await run_agent(stack, bot, prompt)
        approval = await held(stack, execution_id)
        assert ran("lookup_customer") == [{"customer_id": "c7"}] and ran("send_invoice") == []
        assert approval["tool_name"] == "send_invoice" and approval["node_id"] == "__tools_1__"
        assert approval["context"]["arguments"] == {"customer_id": "c7", "amount": 120.5}
        await decide(stack, execution_id, "approved", "alice")
        assert await finished(stack, execution_id) == "workflow_completed"
        state = (await execution(stack, execution_id))["current_state"]
    assert ran("send_invoice") == [{"customer_id": "c7", "amount": 120.5}]
    assert len(events(stack, execution_id, "tool_approval_required")) == 1
    assert state["last_model_output"] == "done"
    assert state["__budget"]["tool_call_count"] == 2


async def test_a_rejected_tool_call_fails_the_node_with_the_reviewer_and_comment(
    stack: Stack, llm: FakeHttpServer
) -> None:
    bot = agent(approval_required=["send_*"])
    prompt = script([call("send_invoice", customer_id="c1", amount=9)])
    async with services(stack, **model_env(llm)):
        execution_id = await run_agent(stack, bot, prompt)
        await held(stack, execution_id)
        await decide(stack, execution_id, "rejected", "bob", "not this month")
        assert await finished(stack, execution_id) == "workflow_failed"
    assert ran("send_invoice") == []
    errors = [f["error"] for f in events(stack, execution_id, "node_failed") if f["node_id"] == "__tools_0__"]
    assert errors == ["approval rejected by bob: not this month"]


async def test_approval_required_true_holds_every_tool(stack: Stack, llm: FakeHttpServer) -> None:
    bot = agent(approval_required=True)
    async with services(stack, **model_env(llm)):
        execution_id = await run_agent(stack, bot, script([call("lookup_customer", customer_id="c2")]))
        approval = await held(stack, execution_id)
        assert approval["tool_name"] == "lookup_customer" and ran("lookup_customer") == []
        await decide(stack, execution_id, "approved", "alice")
        assert await finished(stack, execution_id) == "workflow_completed"
    assert ran("lookup_customer") == [{"customer_id": "c2"}]


async def test_a_budget_stops_the_agent_before_its_next_tool_turn(stack: Stack, llm: FakeHttpServer) -> None:
    bot = agent(budget=Budget(tokens=20))  # each fake completion uses 15 tokens
    prompt = script([call("lookup_customer", customer_id="c1")], [call("lookup_customer", customer_id="c2")])
    async with services(stack, **model_env(llm)):
        execution_id = await run_agent(stack, bot, prompt)
        assert await finished(stack, execution_id) == "workflow_failed"
    assert ran("lookup_customer") == [{"customer_id": "c1"}]
    [exceeded] = events(stack, execution_id, "token_budget_exceeded")
    assert (exceeded["node_id"], exceeded["limit"], exceeded["current"]) == ("__model_1__", 20, 30)
    assert "__tools_1__" not in {e["node_id"] for e in events(stack, execution_id, "node_started")}


async def test_a_tenant_policy_applies_to_the_calls_of_an_agent_without_one(
    stack: Stack, llm: FakeHttpServer
) -> None:
    async with services(stack, **model_env(llm)):
        policy = {"blocked_tools": ["lookup_*"]}
        created = await request(stack, "jamjet.cmd.tenants.create", {"id": "acme", "policy": policy})
        assert created["ok"], created
        execution_id = await run_agent(
            stack, agent(), script([call("lookup_customer", customer_id="c1")]), tenant="acme"
        )
        assert await finished(stack, execution_id) == "workflow_failed"
    assert ran("lookup_customer") == []
    [violation] = events(stack, execution_id, "policy_violation")
    assert violation["policy_scope"] == "tenant" and "'lookup_customer'" in violation["rule"]
