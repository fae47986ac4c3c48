"""The model executor streaming from a real OpenAI-compatible fake, with deltas on real NATS."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from jamjet_common import subjects
from jamjet_common.errors import FatalError, RetryableError
from services.worker.executors.base import ExecutionContext
from services.worker.executors.model import ModelExecutor
from services.worker.progress import NatsProgressSink
from tests.executors.builders import context, model_config, model_node, model_settings
from tests.executors.fake_http import FakeHttpServer, Reply, sse
from tests.executors.test_model import completion
from tests.helpers import eventually

MODEL = "gpt-4o-2024-08-06"
USAGE = {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200}


def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": MODEL, "choices": [choice]}


def usage_chunk(usage: dict[str, Any] = USAGE) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": MODEL,
        "choices": [],
        "usage": usage,
    }


def text_stream(*pieces: str) -> Reply:
    first = chunk({"role": "assistant", "content": ""})
    return sse(first, *(chunk({"content": p}) for p in pieces), chunk({}, "stop"), usage_chunk())


def prompted() -> ExecutionContext:
    return context(model_node(prompt_ref="Plan {{ state.city }}."), {"city": "Paris"}, model=model_config())


@pytest.fixture
async def streaming(fake: FakeHttpServer, nc: NATS) -> AsyncIterator[ModelExecutor]:
    settings = model_settings(fake.url, JAMJET_MODEL_TIMEOUT_SECS="0.5")
    executor = ModelExecutor(settings, progress=NatsProgressSink(nc))
    yield executor
    await executor.aclose()


async def subscribe(nc: NATS, ctx: ExecutionContext) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []

    async def on_msg(msg: Msg) -> None:
        received.append(json.loads(msg.data))

    await nc.subscribe(subjects.progress(ctx.item.tenant, ctx.item.execution_id), cb=on_msg)
    await nc.flush()
    return received


async def test_streamed_content_is_assembled_and_each_delta_published_in_order(
    streaming: ModelExecutor, fake: FakeHttpServer, nc: NATS
) -> None:
    ctx = prompted()
    received = await subscribe(nc, ctx)
    fake.reply(text_stream("Paris", " it", " is."))
    result = await streaming.execute(ctx)

    sent = fake.last.json()
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert result.output == {
        "content": "Paris it is.",
        "model": MODEL,
        "finish_reason": "stop",
        "tool_calls": [],
    }
    assert result.state_patch["last_model_output"] == "Paris it is."
    assert (result.input_tokens, result.output_tokens, result.finish_reason) == (1000, 200, "stop")
    assert result.gen_ai_model == MODEL
    assert result.cost_usd == pytest.approx(1000 * 2.5e-6 + 200 * 10e-6)

    await eventually(lambda: len(received) >= 3, timeout=5, message="three model_delta events")
    assert received == [
        {
            "type": "model_delta",
            "node_id": "think",
            "execution_id": ctx.item.execution_id,
            "attempt": 0,
            "sequence": n,
            "delta": piece,
        }
        for n, piece in enumerate(["Paris", " it", " is."], start=1)
    ]


async def test_tool_call_fragments_are_assembled(streaming: ModelExecutor, fake: FakeHttpServer) -> None:
    def call(index: int, **fields: Any) -> dict[str, Any]:
        return chunk({"tool_calls": [{"index": index, **fields}]})

    fake.reply(
        sse(
            chunk({"role": "assistant", "content": None}),
            call(0, id="call_1", type="function", function={"name": "get_weather", "arguments": ""}),
            call(0, function={"arguments": '{"ci'}),
            call(1, id="call_2", type="function", function={"name": "get_time", "arguments": "{}"}),
            call(0, function={"arguments": 'ty":"Paris"}'}),
            chunk({}, "tool_calls"),
            usage_chunk({"prompt_tokens": 50, "completion_tokens": 7}),
        )
    )
    result = await streaming.execute(prompted())
    expected = [
        {"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}},
        {"id": "call_2", "name": "get_time", "arguments": {}},
    ]
    assert result.output["tool_calls"] == expected
    assert result.state_patch["last_model_tool_calls"] == expected
    assert (result.output["content"], result.finish_reason) == ("", "tool_calls")
    assert (result.input_tokens, result.output_tokens) == (50, 7)


async def test_a_cut_off_stream_is_a_retryable_server_error(
    streaming: ModelExecutor, fake: FakeHttpServer
) -> None:
    fake.reply(sse(chunk({"content": "Par"}), done=False))
    with pytest.raises(RetryableError) as caught:
        await streaming.execute(prompted())
    assert caught.value.error_class == "server_error"
    assert "without a finish_reason" in caught.value.message


async def test_an_error_chunk_is_a_retryable_server_error(
    streaming: ModelExecutor, fake: FakeHttpServer
) -> None:
    fake.reply(sse(chunk({"content": "Par"}), {"error": {"message": "upstream overloaded"}}, done=False))
    with pytest.raises(RetryableError, match="upstream overloaded") as caught:
        await streaming.execute(prompted())
    assert caught.value.error_class == "server_error"


async def test_a_finish_reason_without_done_is_complete(
    streaming: ModelExecutor, fake: FakeHttpServer
) -> None:
    fake.reply(sse(chunk({"content": "ok"}, "length"), done=False))
    result = await streaming.execute(prompted())
    assert (result.output["content"], result.finish_reason, result.input_tokens) == ("ok", "length", None)


async def test_streamed_failures_are_classified_as_without_streaming(
    streaming: ModelExecutor, fake: FakeHttpServer
) -> None:
    fake.reply(
        Reply(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "3"}),
        Reply(502, {"error": "bad gateway"}),
        Reply(400, {"error": {"message": "bad temperature"}}),
        Reply(body=b"data: {}\n\n", headers={"Content-Type": "text/event-stream"}, delay=2.0),
    )
    errors: list[BaseException] = []
    for _ in range(4):
        with pytest.raises((RetryableError, FatalError)) as caught:
            await streaming.execute(prompted())
        errors.append(caught.value)
    limited, server, bad, slow = errors
    assert isinstance(limited, RetryableError) and (limited.error_class, limited.retry_after) == (
        "rate_limit",
        3.0,
    )
    assert isinstance(server, RetryableError) and server.error_class == "server_error"
    assert not isinstance(bad, RetryableError) and "bad temperature" in str(bad)
    assert isinstance(slow, RetryableError) and slow.error_class == "timeout"


async def test_a_json_answer_to_a_streamed_request_is_read_whole(
    streaming: ModelExecutor, fake: FakeHttpServer
) -> None:
    fake.reply(Reply(body=completion("whole")))
    result = await streaming.execute(prompted())
    assert (result.output["content"], result.input_tokens) == ("whole", 1000)
    assert fake.last.json()["stream"] is True


async def test_without_a_sink_the_request_is_not_streamed(
    model_executor: ModelExecutor, fake: FakeHttpServer
) -> None:
    fake.reply(Reply(body=completion()))
    await model_executor.execute(prompted())
    assert "stream" not in fake.last.json() and "stream_options" not in fake.last.json()
