"""What the policy's command bodies share: empty means ``{}``."""

from __future__ import annotations

from jamjet_common import codec


def decode_body[T](data: bytes, type_: type[T], what: str) -> T:
    # An empty body is an empty object: `nats req jamjet.cmd.tenants.list ""` should work.
    return codec.decode(data.strip() or b"{}", type_, what=what)
