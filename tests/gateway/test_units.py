"""Gateway pieces without a stack: tokens, configuration, ids, status codes, IR loading."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from jamjet_client import Conflict, NotFound, Refused, Unavailable, load_ir
from jamjet_client.errors import InvalidRequest, error_for
from jamjet_common.config import ConfigError, Env
from jamjet_common.errors import ContractError, InvalidTokenError
from services.gateway.config import GatewayConfig
from services.gateway.errors import status_of
from services.gateway.ids import execution_id
from services.gateway.tokens import parse_tokens, token_hash


def test_tokens_are_kept_hashed_and_map_to_tenants() -> None:
    table = parse_tokens(
        json.dumps([{"sha256": token_hash("s3cret"), "tenant": "acme", "read_only": True}]), "X"
    )
    principal = table.principal("s3cret")
    assert principal is not None and (principal.tenant, principal.read_only) == ("acme", True)
    assert table.principal("other") is None
    assert "s3cret" not in repr(table)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("not json", "not a JSON list"),
        ("[]", "no tokens"),
        ('[{"sha256": "abc", "tenant": "acme"}]', "64 hex"),
        (json.dumps([{"sha256": "a" * 64, "tenant": "a.b"}]), "tenant"),
        (json.dumps([{"sha256": "a" * 64, "tenant": "t", "token": "plain"}]), "not a JSON list"),
    ],
)
def test_bad_token_configuration_names_the_variable(text: str, says: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_tokens(text, "JAMJET_GATEWAY_TOKENS")
    assert "JAMJET_GATEWAY_TOKENS" in str(error.value) and says in str(error.value)


def test_config_needs_tokens_or_dev_mode(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="JAMJET_GATEWAY_TOKENS"):
        GatewayConfig.from_env(Env({}))
    dev = GatewayConfig.from_env(Env({"JAMJET_GATEWAY_DEV": "true"}))
    assert dev.dev_token and dev.tokens.principal(dev.dev_token) is not None
    with pytest.raises(ConfigError, match="JAMJET_GATEWAY_TOKENS_FILE"):
        GatewayConfig.from_env(Env({"JAMJET_GATEWAY_TOKENS_FILE": str(tmp_path / "missing.json")}))
    with pytest.raises(ConfigError, match="JAMJET_GATEWAY_PORT"):
        GatewayConfig.from_env(Env({"JAMJET_GATEWAY_DEV": "1", "JAMJET_GATEWAY_PORT": "http"}))


def test_execution_ids_in_both_forms() -> None:
    hex_id = uuid.uuid4().hex
    assert execution_id(str(uuid.UUID(hex_id))) == f"exec_{hex_id}"
    assert execution_id(hex_id) == f"exec_{hex_id}"
    assert execution_id(f"exec_{hex_id}") == f"exec_{hex_id}"
    assert execution_id("exec_mine_1") == "exec_mine_1"
    with pytest.raises(InvalidTokenError):
        execution_id("a.b")


def test_reply_codes_become_typed_errors_and_statuses() -> None:
    cases = [
        ("unknown_execution", NotFound, 404),
        ("execution_terminal", Conflict, 409),
        ("tenant_suspended", Refused, 403),
        ("tenant_limit_exceeded", Refused, 429),
        ("store_unavailable", Unavailable, 503),
        ("timeout", Unavailable, 504),
        ("invalid_ir", InvalidRequest, 400),
    ]
    for code, family, status in cases:
        error = error_for(code, "m")
        assert (type(error), error.code, status_of(error)) == (family, code, status)
    assert error_for("busy", "m").retryable and not error_for("invalid_ir", "m").retryable


def test_ir_from_a_file_a_dict_or_an_object(tmp_path: Path) -> None:
    ir = {"workflow_id": "w", "version": "1.0.0"}
    (tmp_path / "w.yaml").write_text("workflow_id: w\nversion: 1.0.0\n")
    assert load_ir(tmp_path / "w.yaml") == ir
    assert load_ir(ir) is ir

    class Exported:
        def to_ir(self) -> dict[str, str]:
            return ir

    assert load_ir(Exported()) == ir
    for bad in (tmp_path / "missing.json", object()):
        with pytest.raises(ContractError) as error:
            load_ir(bad)
        assert error.value.code == "invalid_ir"


def test_a_deploy_makes_its_first_token_once_and_keeps_only_its_hash(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    env = {"JAMJET_GATEWAY_TOKENS_FILE": str(path), "JAMJET_GATEWAY_CREATE_TOKEN": "true"}
    first = GatewayConfig.from_env(Env(env))
    assert first.dev_token is not None, "the new token is printed once"
    assert first.dev_token not in path.read_text(), "only its hash is stored"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert first.tokens.principal(first.dev_token) is not None
    again = GatewayConfig.from_env(Env(env))
    assert again.dev_token is None and again.tokens.principal(first.dev_token) is not None
    with pytest.raises(ConfigError, match="JAMJET_GATEWAY_CREATE_TOKEN"):
        GatewayConfig.from_env(Env({**env, "JAMJET_GATEWAY_CREATE_TOKEN": "maybe"}))


def test_the_public_url_is_the_listening_address_unless_set() -> None:
    tokens = {"JAMJET_GATEWAY_DEV": "true"}
    assert GatewayConfig.from_env(Env(tokens)).public_url is None
    published = {**tokens, "JAMJET_GATEWAY_PUBLIC_URL": "http://127.0.0.1:17700"}
    assert GatewayConfig.from_env(Env(published)).public_url == "http://127.0.0.1:17700"
