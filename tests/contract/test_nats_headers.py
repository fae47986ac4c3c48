"""``jamjet_common.nats_headers`` parses every header block as nats-py does, and is what clients use."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from nats.aio.client import Client as NATS
from nats.errors import BadHeaderError, BadSubjectError

from jamjet_common import nats_headers
from jamjet_common.nats_headers import NATS_PY_PARSE, NATS_PY_SEND, parse_header_lines, send_publish

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


class Recorder:
    """What ``Client._send_publish`` needs of its client, recording the command it queues."""

    def __init__(self) -> None:
        self.stats = {"out_msgs": 0, "out_bytes": 0}
        self._flush_queue = None
        self.commands: list[bytes] = []

    async def _send_command(self, command: bytes) -> None:
        self.commands.append(bytes(command))


async def published(send: object, subject: str, headers: dict[str, str] | None) -> bytes | type[Exception]:
    client = Recorder()
    try:
        await send(client, subject, "_INBOX.x.1", b"payload", 7, headers)  # type: ignore[operator]
    except Exception as exc:
        return type(exc)
    assert client.stats == {"out_msgs": 1, "out_bytes": 7}
    return client.commands[0]


assert NATS_PY_SEND is not None, "nats-py no longer writes headers where this expects"
HEADER_TEXT = st.text(st.sampled_from([*"aZ-_.:é \t\r\n(\x00"]), max_size=10) | st.just("Nats-Msg-Id")


@given(st.dictionaries(HEADER_TEXT, HEADER_TEXT, max_size=5) | st.none())
async def test_any_headers_are_written_as_nats_py_writes_them(headers: dict[str, str] | None) -> None:
    assert await published(send_publish, "jamjet.events.t.e", headers) == await published(
        NATS_PY_SEND, "jamjet.events.t.e", headers
    )


async def test_a_name_nats_py_refuses_is_refused_each_time() -> None:
    for _ in range(2):
        assert await published(send_publish, "s", {"Bad Name": "x"}) is BadHeaderError
    assert await published(send_publish, "", None) is BadSubjectError


def test_clients_of_a_process_that_connects_through_the_bus_write_with_it() -> None:
    nats_headers.install()
    assert NATS._send_publish is send_publish
