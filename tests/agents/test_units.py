"""Pure pieces: chunk parsing, SSE framing, mode/budget parsing, the progress stream's limits."""

from __future__ import annotations

from typing import Any

import pytest

from jamjet_common import streams
from jamjet_common.config import Env
from jamjet_common.errors import FatalError
from services.worker.executors.agent_call import AgentMode, Budget, parse_budget, parse_mode, usage
from services.worker.executors.ndjson import SseDecoder, parse_chunk


@pytest.mark.parametrize(
    ("line", "chunk"),
    [
        ('{"delta": "a"}', {"delta": "a"}),
        ("  ", None),
        ("[DONE]", None),
        ("{broken", {"raw": "{broken"}),
        ("[1, 2]", {"value": [1, 2]}),
    ],
)
def test_parse_chunk(line: str, chunk: dict[str, Any] | None) -> None:
    assert parse_chunk(line) == chunk


def test_sse_decoder_joins_data_lines_of_one_event() -> None:
    decoder = SseDecoder()
    fed = [decoder.feed(line) for line in ["id: 1", 'data: {"a":', "data: 1}", ": comment", ""]]
    assert fed == [None, None, None, None, '{"a":\n1}']
    assert decoder.feed("data:x") is None and decoder.flush() == "x" and decoder.flush() is None


@pytest.mark.parametrize(
    ("mode", "parsed"),
    [
        (None, AgentMode("sync")),
        ("streaming", AgentMode("streaming")),
        ({"conversational": {"max_turns": 2, "max_tokens_per_turn": 9}}, AgentMode("conversational", 2, 9)),
        ({"conversational": {}}, AgentMode("conversational", 5)),
    ],
)
def test_parse_mode(mode: Any, parsed: AgentMode) -> None:
    assert parse_mode(mode) == parsed


@pytest.mark.parametrize("mode", [{"conversational": {"max_turns": 0}}, {"streaming": True}, 3])
def test_bad_modes_are_fatal(mode: Any) -> None:
    with pytest.raises(FatalError):
        parse_mode(mode)


def test_budget() -> None:
    budget = parse_budget({"max_cost_usd": 1, "max_tokens": 100})
    assert budget == Budget(1.0, 100)
    assert not budget.exceeded(1.0, 100) and budget.exceeded(1.01, 0) and budget.exceeded(0, 101)
    with pytest.raises(FatalError, match="max_cost_usd"):
        parse_budget({"max_cost_usd": "lots"})


def test_usage_reads_cost_and_tokens_and_ignores_junk() -> None:
    assert usage({"cost_usd": 0.5, "tokens": 7}) == (0.5, 7)
    assert usage({"cost": True, "tokens": "many"}) == (0.0, 0)
    assert usage("text") == (0.0, 0)


def test_progress_stream_limits_come_from_the_environment() -> None:
    env = Env({"JAMJET_PROGRESS_MAX_AGE_HOURS": "0.5", "JAMJET_PROGRESS_MAX_MSGS_PER_EXECUTION": "50"})
    config = streams.progress_stream(streams.StreamLimits.from_env(env))
    assert config.subjects == ["jamjet.progress.>"]
    assert config.max_age == 1800.0 and config.max_msgs_per_subject == 50
    assert config.duplicate_window == 120.0
    short = streams.progress_stream(
        streams.StreamLimits.from_env(Env({"JAMJET_PROGRESS_MAX_AGE_HOURS": "0.01"}))
    )
    assert short.duplicate_window == short.max_age == 36.0
