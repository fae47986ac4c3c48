"""The tool executor: HTTP tools against a real JSON server on 127.0.0.1, and Python tools."""

from __future__ import annotations

from typing import Any

import pytest

from jamjet_common.config import Env
from jamjet_common.errors import FatalError, RetryableError
from services.worker.executors.tool import ToolExecutor
from tests.executors.builders import context, tool_config, tool_node, tool_settings
from tests.executors.fake_http import FakeHttpServer, Reply, Request

STATE = {"query": {"text": "jamjet", "tags": ["a", "b"]}, "limit": 3, "user": "ada"}


def echo(request: Request) -> Reply:
    return Reply(body={"received": request.json(), "auth": request.headers.get("authorization")})


async def run_http(
    executor: ToolExecutor, fake: FakeHttpServer, state: dict[str, Any] | None = None, **config: Any
) -> Any:
    mapping = config.pop("input_mapping", {})
    node = tool_node("search", input_mapping=mapping)
    tool = tool_config(fake.url + "/search?mode=fast", **config)
    return await executor.execute(context(node, STATE if state is None else state, tool=tool))


async def test_mapped_input_is_posted_and_the_json_answer_is_output_and_patch(
    tool_executor: ToolExecutor, fake: FakeHttpServer
) -> None:
    fake.handler = echo
    mapping = {
        "q": "state.query.text",
        "first_tag": "state.query.tags.0",
        "n": "state.limit",
        "missing": "state.nope.deeper",
        "source": "web",
    }
    result = await run_http(
        tool_executor, fake, input_mapping=mapping, permissions=["env:SEARCH_TOKEN", "net"]
    )
    sent = {"q": "jamjet", "first_tag": "a", "n": 3, "missing": None, "source": "web"}
    assert (fake.last.method, fake.last.path) == ("POST", "/search?mode=fast")
    assert fake.last.json() == sent
    assert result.output == {"received": sent, "auth": "Bearer tok-123"}
    assert result.state_patch == result.output


async def test_without_mapping_the_whole_state_is_sent(
    tool_executor: ToolExecutor, fake: FakeHttpServer
) -> None:
    fake.handler = echo
    result = await run_http(tool_executor, fake)
    assert fake.last.json() == STATE
    assert result.output["auth"] is None


async def test_custom_header_credential(tool_executor: ToolExecutor, fake: FakeHttpServer) -> None:
    fake.reply(Reply(body={"ok": True}))
    await run_http(tool_executor, fake, permissions=["env:SEARCH_KEY:X-Api-Key"])
    assert fake.last.headers["x-api-key"] == "key-456"
    assert "authorization" not in fake.last.headers


async def test_missing_credential_is_fatal_before_any_call(
    tool_executor: ToolExecutor, fake: FakeHttpServer
) -> None:
    with pytest.raises(FatalError, match="'UNSET_TOKEN'"):
        await run_http(tool_executor, fake, permissions=["env:UNSET_TOKEN"])
    assert fake.requests == []


@pytest.mark.parametrize(("answer", "patch"), [([1, 2], {"search": [1, 2]}), ("plain", {"search": "plain"})])
async def test_non_object_answer_patches_under_the_tool_ref(
    tool_executor: ToolExecutor, fake: FakeHttpServer, answer: Any, patch: dict[str, Any]
) -> None:
    fake.reply(Reply(body=answer))
    result = await run_http(tool_executor, fake)
    assert (result.output, result.state_patch) == (answer, patch)


async def test_empty_answer_patches_nothing(tool_executor: ToolExecutor, fake: FakeHttpServer) -> None:
    fake.reply(Reply(204))
    result = await run_http(tool_executor, fake)
    assert (result.output, result.state_patch) == ({}, {})


@pytest.mark.parametrize(
    ("reply", "error_class", "retry_after"),
    [
        (Reply(429, {"error": "slow down"}, headers={"Retry-After": "2"}), "rate_limit", 2.0),
        (Reply(500, {"message": "boom"}), "server_error", None),
        (Reply(body={"late": True}, delay=2.0), "timeout", None),
    ],
)
async def test_transient_failures_are_retryable(
    tool_executor: ToolExecutor,
    fake: FakeHttpServer,
    reply: Reply,
    error_class: str,
    retry_after: float | None,
) -> None:
    fake.reply(reply)
    with pytest.raises(RetryableError) as caught:
        await run_http(tool_executor, fake)
    assert (caught.value.error_class, caught.value.retry_after) == (error_class, retry_after)
    assert "tool 'search'" in caught.value.message
    assert "mode=fast" not in caught.value.message, "query strings may carry keys"


async def test_client_errors_and_non_json_answers_are_fatal(
    tool_executor: ToolExecutor, fake: FakeHttpServer
) -> None:
    fake.reply(Reply(404, {"detail": "no such tool"}), Reply(body=b"not json"))
    with pytest.raises(FatalError, match=r"HTTP 404.*no such tool") as caught:
        await run_http(tool_executor, fake)
    assert not isinstance(caught.value, RetryableError)
    with pytest.raises(FatalError, match="not JSON"):
        await run_http(tool_executor, fake)


async def test_unknown_tool_and_unsupported_kind_are_fatal(tool_executor: ToolExecutor) -> None:
    with pytest.raises(FatalError, match="not in the IR's tools"):
        await tool_executor.execute(context(tool_node("search"), {}))
    with pytest.raises(FatalError, match="kind 'grpc' is not supported"):
        await tool_executor.execute(context(tool_node("search"), {}, tool=tool_config("x", kind="grpc")))
    with pytest.raises(FatalError, match="not an http"):
        await tool_executor.execute(context(tool_node("search"), {}, tool=tool_config("ftp://x")))


# ---- python tools ---------------------------------------------------------------------------------------


async def run_python(executor: ToolExecutor, reference: str, state: dict[str, Any], **kind: Any) -> Any:
    node = tool_node("calc", **kind)
    return await executor.execute(context(node, state, tool=tool_config(reference, kind="python")))


async def test_python_tool_gets_the_mapped_input(tool_executor: ToolExecutor) -> None:
    mapping = {"a": "state.x", "b": "state.nested.y"}
    result = await run_python(
        tool_executor, "tests.executors.tool_fns:add", {"x": 2, "nested": {"y": 5}}, input_mapping=mapping
    )
    assert (result.output, result.state_patch) == ({"sum": 7}, {"sum": 7})


async def test_python_tool_dotted_reference_and_async_function(tool_executor: ToolExecutor) -> None:
    result = await run_python(tool_executor, "tests.executors.tool_fns.shout", {"text": "hi"})
    assert (result.output, result.state_patch) == ("HI", {"calc": "HI"})
    empty = await run_python(tool_executor, "tests.executors.tool_fns:nothing", {})
    assert (empty.output, empty.state_patch) == ({}, {})


async def test_python_tool_failures_are_fatal(tool_executor: ToolExecutor) -> None:
    with pytest.raises(FatalError, match="not JSON-serializable"):
        await run_python(tool_executor, "tests.executors.tool_fns:unserializable", {})
    with pytest.raises(FatalError, match="not 'module:function'"):
        await run_python(tool_executor, "add", {})
    with pytest.raises(FatalError, match="not allowed"):
        await run_python(tool_executor, "json:dumps", {})


async def test_credentials_are_read_at_call_time(fake: FakeHttpServer) -> None:
    secrets: dict[str, str] = {}
    executor = ToolExecutor(tool_settings(JAMJET_SECRET_ROTATING="ROTATING"), secrets=Env(secrets))
    fake.handler = echo
    try:
        with pytest.raises(FatalError):
            await run_http(executor, fake, permissions=["env:ROTATING"])
        secrets["ROTATING"] = "fresh"
        result = await run_http(executor, fake, permissions=["env:ROTATING"])
    finally:
        await executor.aclose()
    assert result.output["auth"] == "Bearer fresh"
