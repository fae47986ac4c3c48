"""A fake OpenAI-compatible model server whose script travels in the prompt.

Agents: the first user message is a JSON object ``{"turns": [[{"name", "arguments"}, ...], ...],
"answer": str}``: turn ``t`` (counted as the assistant messages with tool calls already in the
conversation) asks for the tool calls ``turns[t]``; once the turns are used up the model answers
``answer``. Every execution thus carries its own script, and one server serves them all.

Strategy prompts (the SDK's reasoning strategies) get the answers in ``STRATEGY_ANSWERS``, matched by a
phrase of the prompt; anything else is echoed.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from tests.executors.fake_http import FakeHttpServer, Reply, Request

USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}


def script(*turns: list[dict[str, Any]], answer: str = "done") -> str:
    """The prompt that makes the fake model ask for ``turns`` of tool calls, then answer."""
    return json.dumps({"turns": list(turns), "answer": answer})


def call(name: str, /, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


def chat(request: Request) -> Reply:
    if not request.path.endswith("/chat/completions"):
        return Reply(404, {"error": {"message": "not here"}})
    body = request.json()
    messages = body["messages"]
    plan = _plan(messages)
    turn = sum(1 for m in messages if m.get("role") == "assistant" and m.get("tool_calls"))
    calls = plan.get("turns", [])[turn] if turn < len(plan.get("turns", [])) and body.get("tools") else None
    return Reply(200, completion(body["model"], calls, plan.get("answer", "done"), turn))


STRATEGY_ANSWERS: list[tuple[str, Any]] = [
    ("Generate a structured plan", {"steps": ["look", "think", "answer"]}),
    ("Evaluate this draft", {"score": 0.9, "passed": True, "feedback": "good"}),
    ("Current output: revised", {"score": 0.9, "passed": True, "gaps": "", "suggestions": ""}),
    (
        "Reflect: does this fully achieve",
        {"score": 0.3, "passed": False, "gaps": "thin", "suggestions": "more"},
    ),
    ("Improve the response", "revised answer"),
    ("Vote for the best one", {"votes": [{"agent": 1, "score": 0.9}], "winner": "answer two"}),
    ("has the debate reached", {"settled": True, "score": 0.8, "ruling": "proposition holds"}),
    ('Output JSON: {"thought"', {"thought": "look it up", "action": "FINISH"}),
    ("final", "FINAL ANSWER"),
    ("Synthesize", "FINAL ANSWER"),
    ("Format the final", "FINAL ANSWER"),
]


TIEBREAK = "You are selecting the best AI agent"


def strategy_answer(prompt: str) -> str:
    if TIEBREAK in prompt:  # the coordinator's tiebreaker: pick the last candidate shown
        last = re.findall(r"URI: (\S+)", prompt)[-1]
        return json.dumps({"selected_uri": last, "reasoning": "the last one shown"})
    for phrase, answer in STRATEGY_ANSWERS:
        if phrase in prompt:
            return answer if isinstance(answer, str) else json.dumps(answer)
    return f"answer to: {prompt[:60]}"


def _plan(messages: list[dict[str, Any]]) -> dict[str, Any]:
    for message in messages:
        if message.get("role") == "user":
            content = message.get("content") or ""
            try:
                plan = json.loads(content)
            except ValueError:
                return {"answer": strategy_answer(content)}
            return (
                plan if isinstance(plan, dict) and "turns" in plan else {"answer": strategy_answer(content)}
            )
    return {}


def completion(model: str, calls: list[dict[str, Any]] | None, answer: str, turn: int) -> dict[str, Any]:
    if calls:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": f"call_{turn}_{index}",
                    "type": "function",
                    "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])},
                }
                for index, c in enumerate(calls)
            ],
        }
        finish = "tool_calls"
    else:
        message, finish = {"role": "assistant", "content": answer}, "stop"
    return {
        "id": f"cmpl-{turn}",
        "model": model,
        "choices": [{"index": 0, "finish_reason": finish, "message": message}],
        "usage": USAGE,
    }


@asynccontextmanager
async def fake_llm() -> AsyncIterator[FakeHttpServer]:
    async with FakeHttpServer(chat) as server:
        yield server


def model_env(server: FakeHttpServer) -> dict[str, str]:
    return {"JAMJET_MODEL_BASE_URL": server.url, "JAMJET_MODEL_API_KEY": "sk-test"}
