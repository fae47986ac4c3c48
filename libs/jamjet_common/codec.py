"""Encoders and decoders, built once, with contract errors that say what is wrong and where."""

from __future__ import annotations

from typing import Any

import msgspec

from jamjet_common.errors import ContractError, MalformedJsonError, PayloadTooLargeError
from jamjet_common.messages import ErrorBody, ErrorReply

ENCODER = msgspec.json.Encoder()
_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


def encode(value: Any) -> bytes:
    return ENCODER.encode(value)


def decoder[T](type_: type[T]) -> msgspec.json.Decoder[T]:
    """The cached decoder for ``type_``."""
    dec = _decoders.get(type_)
    if dec is None:
        dec = _decoders[type_] = msgspec.json.Decoder(type_)
    return dec


def decode[T](data: bytes, type_: type[T], *, what: str = "message", max_bytes: int | None = None) -> T:
    """Decode ``data`` as ``type_`` or raise a :class:`ContractError` that names the problem."""
    if max_bytes is not None and len(data) > max_bytes:
        raise PayloadTooLargeError(f"{what} is {len(data)} bytes; the limit is {max_bytes} bytes")
    try:
        return decoder(type_).decode(data)
    except DECODE_ERRORS as exc:
        raise decode_error(exc, what) from exc


DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)
"""What a msgspec decoder raises for bad input: invalid UTF-8 in a string and nesting too deep come
outside msgspec's own errors."""


def decode_error(exc: BaseException, what: str = "message") -> ContractError:
    """The contract error for one of :data:`DECODE_ERRORS` raised while decoding ``what``."""
    if isinstance(exc, msgspec.ValidationError):
        return ContractError(f"invalid {what}: {exc}")
    return MalformedJsonError(f"{what} is not valid JSON: {exc}")


def ok_reply(**fields: Any) -> bytes:
    return ENCODER.encode({"ok": True, **fields})


def error_reply(code: str, message: str) -> bytes:
    return ENCODER.encode(ErrorReply(error=ErrorBody(code=code, message=message)))


def to_builtins(value: Any) -> Any:
    return msgspec.to_builtins(value)


def has_nul(value: Any) -> bool:
    """Whether a string anywhere in ``value`` (keys included) holds NUL, which Postgres cannot store."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


def refuse_nul(data: bytes, value: Any, what: str) -> None:
    """Refuse ``value`` (decoded from ``data``) if one of its strings holds NUL.

    The raw check first: JSON can only carry NUL escaped, so most messages never pay for the walk.
    """
    if b"\\u0000" in data and has_nul(msgspec.to_builtins(value)):
        raise ContractError(f"{what}: strings must not contain NUL (\\u0000)", code="invalid_request")
