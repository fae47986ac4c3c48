"""The model executor against a real OpenAI-compatible fake on 127.0.0.1."""

from __future__ import annotations

import socket
from email.utils import formatdate
from typing import Any

import pytest

from jamjet_common.errors import FatalError, RetryableError
from services.worker.executors.base import ExecutionContext, ExecutionResult
from services.worker.executors.model import ModelExecutor, infer_system
from tests.executors.builders import context, model_config, model_node, model_settings
from tests.executors.fake_http import FakeHttpServer, Reply

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def completion(
    content: str | None = "Paris it is.",
    *,
    model: str = "gpt-4o-2024-08-06",
    finish_reason: str = "stop",
    tool_calls: list[dict[str, Any]] | None = None,
    usage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": usage or {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200},
    }


def prompted_context(**config: Any) -> ExecutionContext:
    node = model_node(
        prompt_ref="Plan {{ state.trip.city }} for {{state.trip.days}} days. Notes: {{ state.notes }}.",
        system_prompt="You are {{ state.persona }}.",
        tools=[WEATHER_TOOL],
    )
    state = {"trip": {"city": "Paris", "days": 3}, "persona": "a travel agent"}
    return context(node, state, model=model_config(temperature=0.2, max_tokens=256, **config))


async def failure(executor: ModelExecutor, fake: FakeHttpServer, *replies: Reply) -> BaseException:
    fake.reply(*replies)
    with pytest.raises((RetryableError, FatalError)) as caught:
        await executor.execute(prompted_context())
    return caught.value


# ---- the request --------------------------------------------------------------------------------------


async def test_request_carries_model_rendered_messages_settings_tools_and_key(
    model_executor: ModelExecutor, fake: FakeHttpServer
) -> None:
    fake.reply(Reply(body=completion()))
    await model_executor.execute(prompted_context())
    request = fake.last
    assert (request.method, request.path) == ("POST", "/chat/completions")
    assert request.headers["authorization"] == "Bearer sk-default"
    assert request.json() == {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are a travel agent."},
            {"role": "user", "content": "Plan Paris for 3 days. Notes: ."},
        ],
        "temperature": 0.2,
        "max_tokens": 256,
        "tools": [WEATHER_TOOL],
    }


async def test_unresolved_model_ref_is_sent_verbatim_with_state_messages(
    model_executor: ModelExecutor, fake: FakeHttpServer
) -> None:
    fake.reply(Reply(body=completion()))
    history = [
        {"role": "user", "content": "weather in Oslo?", "extra": "dropped"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "name": "w", "arguments": {"x": 1}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "rainy"},
    ]
    bare_tool = {"name": "w", "parameters": {"type": "object"}}
    node = model_node("llama3.1:8b", tools=[bare_tool])
    await model_executor.execute(context(node, {"messages": history}))
    sent = fake.last.json()
    assert sent["model"] == "llama3.1:8b"
    assert "temperature" not in sent and "max_tokens" not in sent
    assert sent["tools"] == [{"type": "function", "function": bare_tool}]
    assert sent["messages"] == [
        {"role": "user", "content": "weather in Oslo?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "w", "arguments": '{"x":1}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "rainy"},
    ]


async def test_no_prompt_and_no_messages_is_fatal_without_a_call(
    model_executor: ModelExecutor, fake: FakeHttpServer
) -> None:
    with pytest.raises(FatalError, match="no prompt_ref"):
        await model_executor.execute(context(model_node(system_prompt="be brief"), {}))
    with pytest.raises(FatalError, match=r"messages\[0\] needs a role"):
        await model_executor.execute(context(model_node(), {"messages": [{"content": "hi"}]}))
    assert fake.requests == []


async def test_provider_endpoint_and_key_come_from_provider_variables(fake: FakeHttpServer) -> None:
    async with FakeHttpServer() as local:
        settings = model_settings(fake.url, JAMJET_MODEL_LOCAL_VLLM_BASE_URL=local.url + "/v1")
        executor = ModelExecutor(settings)
        try:
            local.reply(Reply(body=completion(model="qwen")))
            result = await executor.execute(
                context(model_node(prompt_ref="hi"), model=model_config(provider="local-vllm", model="qwen"))
            )
        finally:
            await executor.aclose()
    assert local.last.path == "/v1/chat/completions"
    assert "authorization" not in local.last.headers, "the default key must not go to another host"
    assert fake.requests == []
    assert result.gen_ai_system == "local-vllm"


async def test_connections_are_pooled_across_calls(
    model_executor: ModelExecutor, fake: FakeHttpServer
) -> None:
    fake.reply(*(Reply(body=completion()) for _ in range(3)))
    for _ in range(3):
        await model_executor.execute(prompted_context())
    assert len(fake.requests) == 3
    assert fake.connections == 1


# ---- the result -----------------------------------------------------------------------------------------


async def test_content_usage_model_and_cost_fill_the_result(
    model_executor: ModelExecutor, fake: FakeHttpServer
) -> None:
    fake.reply(Reply(body=completion()))
    result = await model_executor.execute(prompted_context())
    assert result.output == {
        "content": "Paris it is.",
        "model": "gpt-4o-2024-08-06",
        "finish_reason": "stop",
        "tool_calls": [],
    }
    assert result.state_patch == {
        "last_model_output": "Paris it is.",
        "last_model_finish_reason": "stop",
        "last_model_tool_calls": [],
    }
    assert (result.gen_ai_system, result.gen_ai_model) == ("openai", "gpt-4o-2024-08-06")
    assert (result.input_tokens, result.output_tokens, result.finish_reason) == (1000, 200, "stop")
    assert result.cost_usd == pytest.approx(1000 * 2.5e-6 + 200 * 10e-6)
    assert result.duration_ms >= 0


async def test_tool_calls_land_in_output_and_state_patch(
    model_executor: ModelExecutor, fake: FakeHttpServer
) -> None:
    calls = [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        },
        {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "not json"}},
    ]
    fake.reply(Reply(body=completion(None, finish_reason="tool_calls", tool_calls=calls)))
    result = await model_executor.execute(prompted_context())
    expected = [
        {"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}},
        {"id": "call_2", "name": "get_weather", "arguments": "not json"},
    ]
    assert result.output["tool_calls"] == expected
    assert result.state_patch["last_model_tool_calls"] == expected
    assert result.state_patch["last_model_finish_reason"] == "tool_calls"
    assert result.output["content"] == ""


async def test_reported_cost_beats_the_price_table(
    model_executor: ModelExecutor, fake: FakeHttpServer
) -> None:
    usage = {"prompt_tokens": 10, "completion_tokens": 2, "cost": 0.0042}
    fake.reply(
        Reply(body=completion(usage=usage)),
        Reply(body=completion(), headers={"x-litellm-response-cost": "0.5"}),
    )
    assert (await model_executor.execute(prompted_context())).cost_usd == 0.0042
    assert (await model_executor.execute(prompted_context())).cost_usd == 0.5


async def test_unknown_model_has_no_cost_and_inferred_system(
    model_executor: ModelExecutor, fake: FakeHttpServer
) -> None:
    fake.reply(Reply(body=completion(model="mystery-1")))
    result: ExecutionResult = await model_executor.execute(context(model_node("mystery-1", prompt_ref="hi")))
    assert result.cost_usd is None
    assert result.gen_ai_system == "unknown"
    assert infer_system("claude-sonnet-4-5") == "anthropic"
    assert infer_system("openai/gpt-4o") == "openai"


async def test_price_override_from_environment(fake: FakeHttpServer) -> None:
    executor = ModelExecutor(model_settings(fake.url, JAMJET_MODEL_PRICES='{"mystery-1": [1, 2]}'))
    try:
        fake.reply(Reply(body=completion(model="mystery-1-0601")))
        result = await executor.execute(context(model_node("mystery-1", prompt_ref="hi")))
    finally:
        await executor.aclose()
    assert result.cost_usd == pytest.approx(1000 * 1e-6 + 200 * 2e-6)


# ---- failures -------------------------------------------------------------------------------------------


async def test_429_is_a_rate_limit_with_the_retry_after_seconds(
    model_executor: ModelExecutor, fake: FakeHttpServer
) -> None:
    body = {"error": {"message": "Rate limit reached for gpt-4o", "type": "requests"}}
    error = await failure(model_executor, fake, Reply(429, body, headers={"Retry-After": "7"}))
    assert isinstance(error, RetryableError)
    assert (error.error_class, error.retry_after) == ("rate_limit", 7.0)
    assert "Rate limit reached for gpt-4o" in error.message


async def test_429_retry_after_as_an_http_date(model_executor: ModelExecutor, fake: FakeHttpServer) -> None:
    import time

    when = formatdate(time.time() + 30, usegmt=True)
    error = await failure(model_executor, fake, Reply(429, {}, headers={"Retry-After": when}))
    assert isinstance(error, RetryableError)
    assert error.retry_after is not None and 25 <= error.retry_after <= 31


async def test_429_falls_back_to_ratelimit_reset_headers(
    model_executor: ModelExecutor, fake: FakeHttpServer
) -> None:
    headers = {"x-ratelimit-reset-requests": "1m30s", "x-ratelimit-reset-tokens": "250ms"}
    error = await failure(model_executor, fake, Reply(429, {}, headers=headers))
    assert isinstance(error, RetryableError)
    assert (error.error_class, error.retry_after) == ("rate_limit", 90.0)


async def test_5xx_is_a_retryable_server_error(model_executor: ModelExecutor, fake: FakeHttpServer) -> None:
    error = await failure(model_executor, fake, Reply(503, {"error": "overloaded"}))
    assert isinstance(error, RetryableError)
    assert (error.error_class, error.retry_after) == ("server_error", None)
    assert "HTTP 503" in error.message and "overloaded" in error.message


async def test_4xx_is_fatal_with_the_api_message(model_executor: ModelExecutor, fake: FakeHttpServer) -> None:
    body = {"error": {"message": "Invalid value for 'temperature'", "type": "invalid_request_error"}}
    error = await failure(model_executor, fake, Reply(400, body))
    assert isinstance(error, FatalError) and not isinstance(error, RetryableError)
    assert "HTTP 400" in error.message and "Invalid value for 'temperature'" in error.message


async def test_slow_answer_is_a_retryable_timeout(
    model_executor: ModelExecutor, fake: FakeHttpServer
) -> None:
    error = await failure(model_executor, fake, Reply(body=completion(), delay=2.0))
    assert isinstance(error, RetryableError)
    assert error.error_class == "timeout"


async def test_unreachable_server_is_a_retryable_io_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    executor = ModelExecutor(model_settings(f"http://127.0.0.1:{port}/v1"))
    try:
        with pytest.raises(RetryableError) as caught:
            await executor.execute(prompted_context())
    finally:
        await executor.aclose()
    assert caught.value.error_class in ("io_error", "connection_reset")


@pytest.mark.parametrize(
    ("body", "match"),
    [(b"<html>oops</html>", "not JSON"), ({"choices": []}, "no choices"), ({"object": "x"}, "no choices")],
)
async def test_malformed_completion_is_fatal(
    model_executor: ModelExecutor, fake: FakeHttpServer, body: Any, match: str
) -> None:
    error = await failure(model_executor, fake, Reply(body=body))
    assert isinstance(error, FatalError)
    assert match in error.message
