"""``jamjet_common.nats_headers`` parses every header block as nats-py does, and is what clients use."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from nats.aio.client import Client as NATS

from jamjet_common import nats_headers
from jamjet_common.nats_headers import NATS_PY_PARSE, parse_header_lines

assert isinstance(NATS_PY_PARSE, staticmethod), "nats-py no longer parses headers where this expects"
nats_py = NATS_PY_PARSE.__func__

NAME_CHARS = st.sampled_from([chr(c) for c in range(128)] + ["é", "\u00a0", "\u2003"])
SEPARATORS = st.sampled_from([":", ": ", ":\t", "", " : "])
LINE = st.tuples(st.text(NAME_CHARS, max_size=12), SEPARATORS, st.text(max_size=12))


@given(st.lists(LINE, max_size=8))
def test_any_block_of_lines_parses_as_nats_py_parses_it(lines: list[tuple[str, str, str]]) -> None:
    raw = b"\r\n".join(f"{name}{sep}{value}".encode() for name, sep, value in lines)
    assert parse_header_lines(raw) == nats_py(raw)


@given(st.binary(max_size=200))
def test_any_bytes_parse_as_nats_py_parses_them(raw: bytes) -> None:
    assert parse_header_lines(raw) == nats_py(raw)


def test_an_event_block_parses_whole() -> None:
    raw = (
        b"Nats-Msg-Id: 6a75b52f-52ca-4161-8b3e-f925be8a1277\r\n"
        b"Nats-Expected-Last-Subject-Sequence: 408\r\nBad Name: x\r\nno colon\r\n\xff: y\r\n"
        b"Jamjet-Planner:s1 3 7\r\n\r\n"
    )
    assert parse_header_lines(raw) == {
        "Nats-Msg-Id": "6a75b52f-52ca-4161-8b3e-f925be8a1277",
        "Nats-Expected-Last-Subject-Sequence": "408",
        "Jamjet-Planner": "s1 3 7",
    }


def test_clients_of_a_process_that_connects_through_the_bus_use_it() -> None:
    nats_headers.install()
    assert NATS._parse_header_lines is parse_header_lines
