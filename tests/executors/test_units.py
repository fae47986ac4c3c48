"""Templates, retry-after parsing, prices and model settings, without a server."""

from __future__ import annotations

import httpx
import pytest

from jamjet_common.config import ConfigError, Env
from services.worker.executors import builtin_registry
from services.worker.executors.http_errors import retry_after_secs
from services.worker.executors.http_setup import register_http_executors
from services.worker.executors.model_settings import DEFAULT_BASE_URL, ModelSettings
from services.worker.executors.pricing import PriceTable
from services.worker.executors.templates import render

STATE = {"user": {"name": "Ada", "langs": ["en", "fr"]}, "n": 3, "flag": None, "obj": {"a": [1, "x"]}}


# ---- templates ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Hi {{ state.user.name }}!", "Hi Ada!"),
        ("{{state.user.langs.1}}/{{ state.n }}", "fr/3"),
        ("[{{ state.missing.deep }}][{{ state.flag }}]", "[][]"),
        ("{{ state.obj }}", '{"a":[1,"x"]}'),
        ("{{ state.user.langs.9 }}|{{ state.n.x }}", "|"),
        (
            "{{ other.thing }} and {{ state }}x",
            '{{ other.thing }} and {"user":{"name":"Ada","langs":["en","fr"]},'
            '"n":3,"flag":null,"obj":{"a":[1,"x"]}}x',
        ),
        ("no placeholders {{}}", "no placeholders {{}}"),
    ],
)
def test_render(template: str, expected: str) -> None:
    assert render(template, STATE) == expected


# ---- retry-after ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "12"}, 12.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:30 GMT"}, 30.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:27:00 GMT"}, 0.0),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"x-ratelimit-reset-requests": "6m0s", "x-ratelimit-reset-tokens": "20ms"}, 360.0),
        ({"x-ratelimit-reset": "1445412510"}, 30.0),
        ({"x-ratelimit-reset-tokens": "1h2m3.5s"}, 3723.5),
        ({"retry-after": "soon"}, None),
        ({"x-ratelimit-reset-requests": "5 minutes"}, None),
        ({"retry-after": "-3"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert retry_after_secs(httpx.Headers(headers), now) == expected


# ---- prices -------------------------------------------------------------------------------------------


def test_prices_match_exactly_then_by_longest_prefix() -> None:
    prices = PriceTable.from_env(Env({}))
    assert prices.cost("gpt-4o-mini-2024-07-18", 1_000_000, 0) == pytest.approx(0.15)
    assert prices.cost("openai/gpt-4o", 0, 1_000_000) == pytest.approx(10.0)
    assert prices.cost("claude-opus-4-5-20251101", 1_000_000, 1_000_000) == pytest.approx(30.0)
    assert prices.cost("nobody-knows", 10, 10) is None
    assert prices.cost("gpt-4o", None, None) is None


def test_price_overrides_and_their_errors_name_the_variable() -> None:
    prices = PriceTable.from_env(
        Env({"JAMJET_MODEL_PRICES": '{"GPT-4o": {"input": 1, "output": 1}, "x": [0, 0]}'})
    )
    assert prices.cost("gpt-4o", 1_000_000, 0) == pytest.approx(1.0)
    assert prices.cost("x-large", 5, 5) == 0.0
    for raw in ("not json", "[1, 2]", '{"m": [1]}', '{"m": {"input": -1, "output": 1}}', '{"m": [true, 1]}'):
        with pytest.raises(ConfigError, match="JAMJET_MODEL_PRICES"):
            PriceTable.from_env(Env({"JAMJET_MODEL_PRICES": raw}))


# ---- model settings ------------------------------------------------------------------------------------


def test_settings_defaults_and_openai_key_fallback() -> None:
    settings = ModelSettings.from_env(Env({"OPENAI_API_KEY": "sk-openai"}))
    assert settings.default.base_url == DEFAULT_BASE_URL
    assert settings.endpoint(None).headers() == {"Authorization": "Bearer sk-openai"}
    assert settings.endpoint("openai") == settings.default
    assert settings.timeout_secs == 120.0
    assert "sk-openai" not in repr(settings)
    explicit = ModelSettings.from_env(Env({"OPENAI_API_KEY": "a", "JAMJET_MODEL_API_KEY": "b"}))
    assert explicit.default.api_key == "b"


def test_provider_overrides() -> None:
    environ = {
        "JAMJET_MODEL_BASE_URL": "http://127.0.0.1:1/v1",
        "JAMJET_MODEL_API_KEY": "sk-default",
        "JAMJET_MODEL_ANTHROPIC_API_KEY": "sk-ant",
        "JAMJET_MODEL_AZURE_OPENAI_BASE_URL": "https://azure.example/v1",
        "JAMJET_MODEL_AZURE_OPENAI_API_KEY": "az",
        "JAMJET_MODEL_OLLAMA_BASE_URL": "http://127.0.0.1:11434/v1",
    }
    settings = ModelSettings.from_env(Env(environ))
    anthropic = settings.endpoint("anthropic")
    assert (anthropic.base_url, anthropic.api_key) == ("http://127.0.0.1:1/v1", "sk-ant")
    azure = settings.endpoint("azure-openai")
    assert (azure.base_url, azure.api_key) == ("https://azure.example/v1", "az")
    ollama = settings.endpoint("Ollama")
    assert (ollama.base_url, ollama.headers()) == ("http://127.0.0.1:11434/v1", {})
    assert settings.endpoint("elsewhere") == settings.default


def test_bad_base_url_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="JAMJET_MODEL_X_BASE_URL"):
        ModelSettings.from_env(Env({"JAMJET_MODEL_X_BASE_URL": "ftp://nope"}))
    with pytest.raises(ConfigError, match="JAMJET_MODEL_TIMEOUT_SECS"):
        ModelSettings.from_env(Env({"JAMJET_MODEL_TIMEOUT_SECS": "soon"}))


# ---- registration --------------------------------------------------------------------------------------


async def test_register_http_executors_adds_model_and_tool() -> None:
    registry = builtin_registry()
    http = register_http_executors(
        registry, Env({"JAMJET_MODEL_API_KEY": "k", "JAMJET_TOOL_TIMEOUT_SECS": "5"})
    )
    try:
        assert registry.get("model") is http.model
        assert registry.get("tool") is http.tool
        assert {"condition", "python_fn", "model", "tool"} <= set(registry.tags)
    finally:
        await http.aclose()
