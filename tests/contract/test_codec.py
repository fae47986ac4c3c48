"""codec.decode maps every kind of bad input to its own ContractError; replies have the contract shape."""

from __future__ import annotations

import json

import pytest

from jamjet_common import codec
from jamjet_common.codec import has_nul
from jamjet_common.errors import ContractError, MalformedJsonError, PayloadTooLargeError
from jamjet_common.ir import WorkflowIr
from jamjet_common.messages import StartExecution


@pytest.mark.parametrize("data", [b"{", b"", b"not json", b'{"workflow_id": "w",}', b"\xff\xfe"])
def test_malformed_json(data: bytes) -> None:
    with pytest.raises(MalformedJsonError) as caught:
        codec.decode(data, StartExecution, what="start command")
    assert caught.value.code == "malformed_json"
    assert str(caught.value).startswith("start command is not valid JSON: ")


def test_a_wrong_type_names_the_json_path() -> None:
    with pytest.raises(ContractError) as caught:
        codec.decode(b'{"workflow_id": 5}', StartExecution, what="start command")
    assert type(caught.value) is ContractError
    assert caught.value.code == "invalid_request"
    assert str(caught.value) == "invalid start command: Expected `str`, got `int` - at `$.workflow_id`"


def test_a_nested_wrong_type_names_the_nested_path() -> None:
    ir = {
        "workflow_id": "w",
        "version": "1.0.0",
        "start_node": "a",
        "nodes": {"a": {"id": "a", "kind": {"type": "model", "model_ref": 7}}},
        "edges": [{"from": "a", "to": 3}],
    }
    with pytest.raises(ContractError, match=r"`\$\.nodes\[\.\.\.\]\.kind\.model_ref`"):
        codec.decode(json.dumps(ir).encode(), WorkflowIr)
    ir["nodes"]["a"]["kind"]["model_ref"] = "m"  # type: ignore[index]
    with pytest.raises(ContractError, match=r"`\$\.edges\[0\]\.to`"):
        codec.decode(json.dumps(ir).encode(), WorkflowIr)


def test_a_missing_field_is_named() -> None:
    with pytest.raises(ContractError, match="missing required field `workflow_id`"):
        codec.decode(b"{}", StartExecution)


def test_a_top_level_array_is_invalid_not_malformed() -> None:
    with pytest.raises(ContractError) as caught:
        codec.decode(b"[]", StartExecution)
    assert caught.value.code == "invalid_request"


def test_an_oversized_payload_is_refused_before_parsing() -> None:
    data = b"{" * 2000  # also malformed: the size check must come first
    with pytest.raises(PayloadTooLargeError) as caught:
        codec.decode(data, StartExecution, what="start command", max_bytes=1024)
    assert caught.value.code == "payload_too_large"
    assert str(caught.value) == "start command is 2000 bytes; the limit is 1024 bytes"


def test_a_payload_at_the_limit_is_decoded() -> None:
    data = json.dumps({"workflow_id": "w", "input": {"pad": "x" * 50}}).encode()
    decoded = codec.decode(data, StartExecution, max_bytes=len(data))
    assert decoded.workflow_id == "w"
    assert decoded.tenant == "default"


def test_error_reply_has_the_contract_shape() -> None:
    reply = json.loads(codec.error_reply("unknown_workflow", "workflow 'x' is not registered"))
    assert reply == {
        "ok": False,
        "error": {"code": "unknown_workflow", "message": "workflow 'x' is not registered"},
    }


def test_ok_reply_carries_its_fields() -> None:
    assert json.loads(codec.ok_reply(execution_id="exec_1", created=True)) == {
        "ok": True,
        "execution_id": "exec_1",
        "created": True,
    }
    assert json.loads(codec.ok_reply()) == {"ok": True}


def test_decoders_are_cached_per_type() -> None:
    assert codec.decoder(StartExecution) is codec.decoder(StartExecution)
    assert codec.decoder(WorkflowIr).type is WorkflowIr


def test_nul_is_found_anywhere_in_a_value() -> None:
    assert has_nul({"a": ["x", {"b\x00": 1}]}) and has_nul("\x00")
    assert not has_nul({"a": ["x", {"b": "\\u0000"}]})
