"""NATS header blocks parsed with one regex search per name instead of a generator per character.

nats-py's ``Client._parse_header_lines`` drops a header whose name holds whitespace by testing every
character of every name in a generator: about 90 generator steps for one of our events (ten headers,
the append conditions and the planner's stamp among them). That was the event store's largest single
item of CPU (0.6 of 1.8 s of its Python over a W1 run, cProfile) and a tenth of the scheduler's.
``parse_header_lines`` returns the same dict for every block (tests/contract/test_nats_headers.py
compares the two); ``install`` puts it in nats-py's place for every client of the process.
"""

from __future__ import annotations

import re

from nats.aio.client import Client

_CRLF = b"\r\n"
_WHITESPACE = re.compile(r"\s")
"""On an ASCII name, exactly the characters ``str.isspace`` calls whitespace (checked by the test)."""

NATS_PY_PARSE = Client.__dict__.get("_parse_header_lines")
"""nats-py's own (a staticmethod), or None in a version that parses headers some other way."""


def parse_header_lines(raw: bytes) -> dict[str, str]:
    """``Name: Value`` lines to a dict, as nats-py does: a name that is not ASCII or holds whitespace,
    and a line without a colon, are skipped; a value is stripped and decoded leniently."""
    out: dict[str, str] = {}
    for line in raw.split(_CRLF):
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        try:
            key = name.strip().decode("ascii")
        except UnicodeDecodeError:
            continue
        if _WHITESPACE.search(key) is None:
            out[key] = value.strip().decode("utf-8", "replace")
    return out


def install() -> None:
    """Parse every client's headers with ``parse_header_lines`` (where nats-py has the hook)."""
    if isinstance(NATS_PY_PARSE, staticmethod):
        Client._parse_header_lines = staticmethod(parse_header_lines)  # type: ignore[method-assign]
