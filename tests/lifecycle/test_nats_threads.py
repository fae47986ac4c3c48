"""How many threads the dev stack's nats-server may run Go code on (``devstack.stack.nats_environ``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jamjet_common.config import ConfigError
from jamjet_common.local.nats_server import free_port
from services.devstack.stack import nats_environ, start_nats


def test_half_the_cores_by_default() -> None:
    assert nats_environ({})["GOMAXPROCS"] == str(max(1, (os.cpu_count() or 2) // 2))


def test_the_setting_names_the_count_and_an_explicit_gomaxprocs_wins() -> None:
    assert nats_environ({"JAMJET_NATS_GOMAXPROCS": "3"})["GOMAXPROCS"] == "3"
    assert nats_environ({"JAMJET_NATS_GOMAXPROCS": "3", "GOMAXPROCS": "5"})["GOMAXPROCS"] == "5"


@pytest.mark.parametrize("value", ["0", "many"])
def test_a_count_that_is_not_a_positive_integer_is_refused_by_name(value: str) -> None:
    with pytest.raises(ConfigError, match="JAMJET_NATS_GOMAXPROCS"):
        nats_environ({"JAMJET_NATS_GOMAXPROCS": value})


def test_the_started_server_runs_with_it(tmp_path: Path) -> None:
    server = start_nats(
        tmp_path,
        {"JAMJET_NATS_PORT": str(free_port()), "JAMJET_NATS_GOMAXPROCS": "1", "PATH": os.environ["PATH"]},
    )
    try:
        environ = Path(f"/proc/{server.pid}/environ").read_bytes().split(b"\0")
        assert b"GOMAXPROCS=1" in environ
    finally:
        server.close()
