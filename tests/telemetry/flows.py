"""Workflows, a fake model, and helpers to start traced executions and read their traces."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from nats.aio.msg import Msg

from tests.e2e.stack import Stack
from tests.executors.fake_http import FakeHttpServer, Reply, Request
from tests.helpers import ask as runtime_request
from tests.scheduler.builders import cond, fn, workflow

FNS = "tests.e2e.workflows"
MODEL = "gpt-4o-mini-traced"
INPUT_TOKENS, OUTPUT_TOKENS = 21, 13


def chat_reply(request: Request) -> Reply:
    if not request.path.endswith("/chat/completions"):
        return Reply(404, {"error": {"message": "not here"}})
    body = request.json()
    prompt = body["messages"][-1]["content"]
    choice = {
        "index": 0,
        "finish_reason": "stop",
        "message": {"role": "assistant", "content": f"ok: {prompt}"},
    }
    usage = {"prompt_tokens": INPUT_TOKENS, "completion_tokens": OUTPUT_TOKENS}
    return Reply(200, {"id": "cmpl-1", "model": body["model"], "choices": [choice], "usage": usage})


def model_env(llm: FakeHttpServer) -> dict[str, str]:
    return {"JAMJET_MODEL_BASE_URL": llm.url, "JAMJET_MODEL_API_KEY": "sk-test"}


def fn_cond_model(wf: str = "traced") -> dict[str, Any]:
    """root (python_fn) → route (condition) → think (model); ``other`` is the branch not taken."""
    think = {
        "id": "think",
        "kind": {"type": "model", "model_ref": "fast", "prompt_ref": "Summarise {{ state.topic }}"},
    }
    nodes = [
        fn("root", "root", FNS),
        cond("route", [("state.root == true", "think"), (None, "other")]),
        think,
        fn("other", "branch_1", FNS),
    ]
    edges = [("root", "route"), ("route", "think"), ("route", "other"), ("think", "end"), ("other", "end")]
    ir = workflow(nodes, edges, wf=wf)
    ir["models"] = {"fast": {"provider": "openai", "model": MODEL, "temperature": 0.1, "max_tokens": 64}}
    # A policy set, so that the policy service judges (and traces) every node: a worker does not ask
    # about a node on which nothing applies.
    ir["policy"] = {"model_allowlist": ["*"]}
    return ir


def nap_then_root(wf: str = "napper") -> dict[str, Any]:
    """nap (sleeps ``state.sleep`` seconds) → after: long enough to restart the scheduler in between."""
    return workflow(
        [fn("nap", "sleeper", FNS), fn("after", "root", FNS)], [("nap", "after"), ("after", "end")], wf=wf
    )


@dataclass(frozen=True)
class ClientSpan:
    """The span of a client that starts an execution, as its ``traceparent`` describes it."""

    trace_id: int = field(default_factory=lambda: random.getrandbits(128))
    span_id: int = field(default_factory=lambda: random.getrandbits(64))

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id:032x}-{self.span_id:016x}-01"


async def start_traced(stack: Stack, workflow_id: str, client: ClientSpan, data: dict[str, Any]) -> str:
    body = {"workflow_id": workflow_id, "input": data}
    headers = {"traceparent": client.traceparent}
    answer = await runtime_request(stack.nc, "jamjet.cmd.executions.start", body, timeout=30, headers=headers)
    assert answer["ok"], answer
    return str(answer["execution_id"])


@dataclass
class HeaderTap:
    """The ``traceparent`` of every event and work item seen on the bus, by execution."""

    events: dict[str, list[str | None]] = field(default_factory=lambda: defaultdict(list))
    work: dict[str, list[str | None]] = field(default_factory=lambda: defaultdict(list))

    async def on_event(self, msg: Msg) -> None:
        self.events[json.loads(msg.data)["execution_id"]].append((msg.headers or {}).get("traceparent"))

    async def on_work(self, msg: Msg) -> None:
        self.work[json.loads(msg.data)["execution_id"]].append((msg.headers or {}).get("traceparent"))


def trace_id_of(traceparent: str | None) -> int:
    assert traceparent is not None, "message without a traceparent"
    return int(traceparent.split("-")[1], 16)


def parent_id_of(traceparent: str | None) -> int:
    assert traceparent is not None, "message without a traceparent"
    return int(traceparent.split("-")[2], 16)
