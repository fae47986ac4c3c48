"""Replies of the OpenAI-compatible fake for judge calls."""

from __future__ import annotations

import json
from typing import Any


def judge_reply(content: str, *, tokens: tuple[int, int] = (300, 20)) -> dict[str, Any]:
    return {
        "id": "chatcmpl-judge",
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": tokens[0], "completion_tokens": tokens[1], "total_tokens": sum(tokens)},
    }


def scored(score: Any, reason: str = "fine") -> dict[str, Any]:
    return judge_reply(json.dumps({"score": score, "reason": reason}))
