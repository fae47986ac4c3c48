"""Where the ``model`` executor sends chat completions, with which key, and how long it waits.

Environment:

- ``JAMJET_MODEL_BASE_URL`` (default ``https://api.openai.com/v1``) and ``JAMJET_MODEL_API_KEY``
  (else ``OPENAI_API_KEY``): any OpenAI-compatible API (OpenAI, vLLM, Ollama's ``/v1``, LiteLLM).
- ``JAMJET_MODEL_<PROVIDER>_BASE_URL`` / ``JAMJET_MODEL_<PROVIDER>_API_KEY``: for models whose IR
  ``models`` entry names that ``provider`` (upper-cased, other characters than letters and digits as
  ``_``: ``azure-openai`` → ``AZURE_OPENAI``). A provider with its own base URL gets only its own key,
  never the default one, so a key is sent only to the host it was configured for; a provider with
  only a key uses the default base URL.
- ``JAMJET_MODEL_TIMEOUT_SECS`` (default 120): per request, unless the model's ``timeout_secs`` says.
- ``JAMJET_MODEL_MAX_CONNECTIONS`` (default 100): the connection pool's size.
- ``JAMJET_MODEL_PRICES``: see :mod:`services.worker.executors.pricing`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from jamjet_common.config import ConfigError, Env
from services.worker.executors.pricing import PriceTable

DEFAULT_BASE_URL = "https://api.openai.com/v1"
_PREFIX = "JAMJET_MODEL_"
_BASE_URL = "_BASE_URL"
_API_KEY = "_API_KEY"


@dataclass(frozen=True, slots=True)
class Endpoint:
    base_url: str
    api_key: str | None = field(default=None, repr=False)

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


@dataclass(frozen=True, slots=True)
class ModelSettings:
    default: Endpoint
    providers: Mapping[str, Endpoint]
    """By provider key (see :func:`provider_key`)."""
    timeout_secs: float
    max_connections: int
    prices: PriceTable

    def endpoint(self, provider: str | None) -> Endpoint:
        if provider is None:
            return self.default
        return self.providers.get(provider_key(provider), self.default)

    @classmethod
    def from_env(cls, env: Env) -> ModelSettings:
        key = env.text("JAMJET_MODEL_API_KEY", "") or env.text("OPENAI_API_KEY", "")
        default = Endpoint(_base_url("JAMJET_MODEL_BASE_URL", env.text("JAMJET_MODEL_BASE_URL", "")), key)
        return cls(
            default=default,
            providers=_providers(env, default),
            timeout_secs=env.number("JAMJET_MODEL_TIMEOUT_SECS", 120.0, minimum=0.001),
            max_connections=env.integer("JAMJET_MODEL_MAX_CONNECTIONS", 100, minimum=1),
            prices=PriceTable.from_env(env),
        )


def provider_key(provider: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", provider.upper())


def _providers(env: Env, default: Endpoint) -> dict[str, Endpoint]:
    urls: dict[str, str] = {}
    keys: dict[str, str] = {}
    for name, value in env.prefixed(_PREFIX).items():
        rest = name.removeprefix(_PREFIX)
        if rest.endswith(_BASE_URL) and len(rest) > len(_BASE_URL):
            urls[rest.removesuffix(_BASE_URL)] = _base_url(name, value)
        elif rest.endswith(_API_KEY) and len(rest) > len(_API_KEY):
            keys[rest.removesuffix(_API_KEY)] = value
    return {provider: _endpoint(urls.get(provider), keys.get(provider), default) for provider in urls | keys}


def _endpoint(base_url: str | None, api_key: str | None, default: Endpoint) -> Endpoint:
    # The default key goes nowhere but the default host: a provider with its own URL brings its own key.
    return Endpoint(base_url, api_key) if base_url else Endpoint(default.base_url, api_key)


def _base_url(name: str, value: str) -> str:
    if not value:
        return DEFAULT_BASE_URL
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"{name}={value!r} is not an http:// or https:// URL")
    return value
