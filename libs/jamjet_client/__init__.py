"""Typed async client of the JamJet runtime over NATS (depends on nats-py and msgspec only)."""

from jamjet_client.client import RuntimeClient
from jamjet_client.errors import Conflict, InvalidRequest, NotFound, Refused, RequestError, Unavailable
from jamjet_client.follow import is_terminal
from jamjet_client.loading import load_ir

__all__ = [
    "Conflict",
    "InvalidRequest",
    "NotFound",
    "Refused",
    "RequestError",
    "RuntimeClient",
    "Unavailable",
    "is_terminal",
    "load_ir",
]
