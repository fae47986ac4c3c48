"""NATS header blocks parsed with one regex search per name instead of a generator per character, and
written with each name checked once per process instead of once per publish.

nats-py's ``Client._parse_header_lines`` drops a header whose name holds whitespace by testing every
character of every name in a generator: about 90 generator steps for one of our events (ten headers,
the append conditions and the planner's stamp among them). That was the event store's largest single
item of CPU (0.6 of 1.8 s of its Python over a W1 run, cProfile) and a tenth of the scheduler's.
``parse_header_lines`` returns the same dict for every block (tests/contract/test_nats_headers.py
compares the two), and keeps what each name it met stands for: 1.7 against 2.5 us for an event's block.

On the way out, nats-py's ``Client._send_publish`` matches every name against a regex and passes every
value through ``str.translate`` (a dictionary lookup per character) for each publish: 7% of the
scheduler's CPU in W1 (cProfile), where a step publishes seven messages with four headers each. Our
names are a handful of constants, so ``header_block`` checks a name once and keeps its encoding, and
translates only a value that holds a line break; the bytes are nats-py's (the test compares them).

``install`` puts both in nats-py's place for every client of the process.
"""

from __future__ import annotations

import re
from typing import Any

from nats.aio.client import Client
from nats.errors import BadHeaderError, BadSubjectError
from nats.protocol.command import hpub_cmd, pub_cmd

_CRLF = b"\r\n"
_STATUS_LINE = b"NATS/1.0\r\n"
_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
"""What nats-py accepts as a header name (``_HEADER_KEY_RE``)."""
_LINE_BREAKS = str.maketrans({"\r": " ", "\n": " "})
_NAMES_KEPT = 256
_names: dict[str, bytes] = {}
"""A name as given -> its ``Name: `` bytes (empty: a blank name, skipped)."""
_read_names: dict[bytes, str | None] = {}
"""A name as read -> the header it stands for (None: skipped). Names come from any publisher, so at
most ``_NAMES_KEPT`` are kept; the rest are read each time."""
_WHITESPACE = re.compile(r"\s")
"""On an ASCII name, exactly the characters ``str.isspace`` calls whitespace (checked by the test)."""

NATS_PY_PARSE = Client.__dict__.get("_parse_header_lines")
"""nats-py's own (a staticmethod), or None in a version that parses headers some other way."""
NATS_PY_SEND = Client.__dict__.get("_send_publish")


def parse_header_lines(raw: bytes) -> dict[str, str]:
    """``Name: Value`` lines to a dict, as nats-py does: a name that is not ASCII or holds whitespace,
    and a line without a colon, are skipped; a value is stripped and decoded leniently."""
    out: dict[str, str] = {}
    for line in raw.split(_CRLF):
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        try:
            key = _read_names[name]
        except KeyError:
            key = _read_name(name)
        if key is not None:
            out[key] = value.strip().decode("utf-8", "replace")
    return out


def _read_name(name: bytes) -> str | None:
    """The header name ``name`` stands for; None: one nats-py skips. Kept while few are kept."""
    try:
        key: str | None = name.strip().decode("ascii")
    except UnicodeDecodeError:
        key = None
    if key is not None and _WHITESPACE.search(key) is not None:
        key = None
    if len(_read_names) < _NAMES_KEPT:
        _read_names[name] = key
    return key


def header_block(headers: dict[str, str]) -> bytes:
    """The block nats-py writes for ``headers``: a blank name skipped, a name it would refuse raising
    ``BadHeaderError``, values stripped with their line breaks turned into spaces."""
    parts = [_STATUS_LINE]
    for name, value in headers.items():
        encoded = _names.get(name)
        if encoded is None:
            encoded = _checked(name)
        if encoded:
            text = value.strip()
            if "\r" in text or "\n" in text:
                text = text.translate(_LINE_BREAKS)
            parts += (encoded, text.encode(), _CRLF)
    parts.append(_CRLF)
    return b"".join(parts)


def _checked(name: str) -> bytes:
    stripped = name.strip()
    if stripped and not _NAME.fullmatch(stripped):
        raise BadHeaderError(stripped)
    encoded = stripped.encode() + b": " if stripped else b""
    if len(_names) < _NAMES_KEPT:
        _names[name] = encoded
    return encoded


async def send_publish(
    self: Any, subject: str, reply: str, payload: bytes, payload_size: int, headers: dict[str, str] | None
) -> None:
    """``Client._send_publish`` with the header block from ``header_block``."""
    if subject == "":
        raise BadSubjectError
    if headers is None:
        command = pub_cmd(subject, reply, payload)
    else:
        command = hpub_cmd(subject, reply, header_block(headers), payload)
    self.stats["out_msgs"] += 1
    self.stats["out_bytes"] += payload_size
    await self._send_command(command)
    if self._flush_queue is not None and self._flush_queue.empty():
        await self._flush_pending()


def install() -> None:
    """Parse and write every client's headers with these (where nats-py has the hooks)."""
    if isinstance(NATS_PY_PARSE, staticmethod):
        Client._parse_header_lines = staticmethod(parse_header_lines)  # type: ignore[method-assign]
    if NATS_PY_SEND is not None:
        Client._send_publish = send_publish  # type: ignore[method-assign]
