"""Model prices, in USD per million input and output tokens, for a call's cost when the API reports none.

The defaults cover common OpenAI and Anthropic models at their list prices and go stale; set
``JAMJET_MODEL_PRICES`` to a JSON object to add or replace entries, each either
``{"input": 2.5, "output": 10}`` or ``[2.5, 10]``::

    JAMJET_MODEL_PRICES='{"gpt-4o": {"input": 2.5, "output": 10}, "llama3.1:8b": [0, 0]}'

A model is priced by its name without a provider prefix (``openai/gpt-4o`` → ``gpt-4o``), matched
exactly, else by the longest table entry it starts with (``gpt-4o-2024-08-06`` → ``gpt-4o``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jamjet_common.config import ConfigError, Env

PRICES_ENV = "JAMJET_MODEL_PRICES"


@dataclass(frozen=True, slots=True)
class Price:
    input_per_mtok: float
    output_per_mtok: float


DEFAULT_PRICES: dict[str, Price] = {
    "gpt-5": Price(1.25, 10.0),
    "gpt-5-mini": Price(0.25, 2.0),
    "gpt-5-nano": Price(0.05, 0.40),
    "gpt-4.1": Price(2.0, 8.0),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-4o": Price(2.50, 10.0),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4-turbo": Price(10.0, 30.0),
    "gpt-3.5-turbo": Price(0.50, 1.50),
    "o1": Price(15.0, 60.0),
    "o1-mini": Price(1.10, 4.40),
    "o3": Price(2.0, 8.0),
    "o3-mini": Price(1.10, 4.40),
    "o4-mini": Price(1.10, 4.40),
    "claude-opus-4": Price(15.0, 75.0),
    "claude-opus-4-5": Price(5.0, 25.0),
    "claude-sonnet-4": Price(3.0, 15.0),
    "claude-haiku-4-5": Price(1.0, 5.0),
    "claude-3-7-sonnet": Price(3.0, 15.0),
    "claude-3-5-sonnet": Price(3.0, 15.0),
    "claude-3-5-haiku": Price(0.80, 4.0),
    "claude-3-opus": Price(15.0, 75.0),
    "claude-3-haiku": Price(0.25, 1.25),
}


@dataclass(frozen=True, slots=True)
class PriceTable:
    prices: Mapping[str, Price]

    @classmethod
    def from_env(cls, env: Env) -> PriceTable:
        raw = env.text(PRICES_ENV, "")
        return cls({**DEFAULT_PRICES, **(parse_prices(raw) if raw else {})})

    def price(self, model: str) -> Price | None:
        name = model.lower().rsplit("/", 1)[-1]
        exact = self.prices.get(model.lower()) or self.prices.get(name)
        if exact is not None:
            return exact
        prefixes = [key for key in self.prices if name.startswith(key)]
        return self.prices[max(prefixes, key=len)] if prefixes else None

    def cost(self, model: str, input_tokens: int | None, output_tokens: int | None) -> float | None:
        """The call's cost in USD; None for an unknown model or when usage was not reported."""
        price = self.price(model)
        if price is None or (input_tokens is None and output_tokens is None):
            return None
        micro_usd = (input_tokens or 0) * price.input_per_mtok + (output_tokens or 0) * price.output_per_mtok
        return round(micro_usd / 1_000_000, 12)


def parse_prices(raw: str) -> dict[str, Price]:
    try:
        entries = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"{PRICES_ENV} is not valid JSON: {exc}") from None
    if not isinstance(entries, dict):
        raise ConfigError(f"{PRICES_ENV} must be a JSON object of model name to price")
    return {str(model).lower(): _price(str(model), entry) for model, entry in entries.items()}


def _price(model: str, entry: Any) -> Price:
    pair: list[Any]
    if isinstance(entry, dict):
        pair = [entry.get("input"), entry.get("output")]
    elif isinstance(entry, list):
        pair = entry
    else:
        pair = []
    if len(pair) != 2 or not all(_is_price(value) for value in pair):
        raise ConfigError(
            f'{PRICES_ENV}: the price of \'{model}\' must be {{"input": <usd>, "output": <usd>}} '
            "or [<input usd>, <output usd>] per million tokens, each at least 0"
        )
    return Price(float(pair[0]), float(pair[1]))


def _is_price(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
