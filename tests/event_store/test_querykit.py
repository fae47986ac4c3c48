"""The store's query decoding: NUL is refused by what the strings hold, not by how the JSON spells them."""

from __future__ import annotations

import msgspec
import pytest

from jamjet_common.errors import ContractError
from services.event_store import querykit


class Query(msgspec.Struct, frozen=True):
    name: str


def test_a_query_naming_a_nul_is_the_senders_error() -> None:
    with pytest.raises(ContractError, match=r"^events query: strings must not contain NUL") as caught:
        querykit.request(b'{"name": "a\\u0000b"}', Query, "events query")
    assert caught.value.code == "invalid_request"


def test_the_escaped_spelling_of_nul_is_ordinary_text() -> None:
    assert querykit.request(b'{"name": "a\\\\u0000b"}', Query, "events query").name == "a\\u0000b"
