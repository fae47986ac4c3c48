"""The test infrastructure itself: local nats-server, scratch databases, `eventually`."""

from __future__ import annotations

import asyncio
import stat
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from nats.aio.client import Client as NATS
from nats.js.api import StorageType
from nats.js.client import JetStreamContext

from jamjet_common.local import postgres
from jamjet_common.local.nats_server import (
    PRIVATE_PORTS_FROM,
    LocalNatsServer,
    LocalNatsServerError,
    free_port,
)
from jamjet_common.local.postgres import create_database, drop_database, resolve_database_url
from tests.helpers import eventually


async def _file_stream(nc: NATS) -> tuple[JetStreamContext, str]:
    js = nc.jetstream()
    name = f"T{uuid.uuid4().hex[:12]}"
    await js.add_stream(name=name, subjects=[f"{name}.>"], storage=StorageType.FILE)
    return js, name


async def _messages(js: JetStreamContext, stream: str) -> int:
    info = await js.stream_info(stream)
    return int(info.state.messages)


def _fake_binary(tmp_path: Path, script: str) -> str:
    path = tmp_path / "nats-server"
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


async def test_jetstream_publish_round_trips(nats_server: LocalNatsServer, nc: NATS) -> None:
    js, stream = await _file_stream(nc)
    ack = await js.publish(f"{stream}.greeting", b"hello", headers={"Nats-Msg-Id": "m1"})
    duplicate = await js.publish(f"{stream}.greeting", b"hello", headers={"Nats-Msg-Id": "m1"})
    psub = await js.pull_subscribe(f"{stream}.>", durable="reader", stream=stream)
    msgs = await psub.fetch(1, timeout=5)
    assert (ack.stream, ack.seq) == (stream, 1)
    assert duplicate.duplicate is True
    assert [msg.data for msg in msgs] == [b"hello"]
    assert nats_server.url == f"nats://127.0.0.1:{nats_server.port}"
    assert nats_server.running and nats_server.pid is not None


async def test_restart_keeps_file_stored_messages(nats_server: LocalNatsServer, nc: NATS) -> None:
    js, stream = await _file_stream(nc)
    for n in range(3):
        await js.publish(f"{stream}.n", str(n).encode())
    pid_before, port_before = nats_server.pid, nats_server.port
    await nats_server.arestart()
    assert nats_server.pid not in (None, pid_before)
    assert nats_server.port == port_before
    assert await eventually(lambda: _messages(js, stream), message="stream not back after restart") == 3
    stored = await js.get_msg(stream, 3)
    assert stored.data == b"2"


async def test_kill_then_start(nats_server: LocalNatsServer, nc: NATS) -> None:
    js, stream = await _file_stream(nc)
    await js.publish(f"{stream}.before", b"1")
    await nats_server.akill()
    assert not nats_server.running and nats_server.pid is None
    await eventually(lambda: not nc.is_connected, message="client did not notice the kill")
    await nats_server.astart()
    await eventually(lambda: nc.is_connected, message="client did not reconnect")
    ack = await eventually(lambda: js.publish(f"{stream}.after", b"2"), message="publish after restart")
    assert ack.seq == 2, "the message published before SIGKILL was lost"


async def test_async_context_manager_cleans_up() -> None:
    async with LocalNatsServer() as server:
        store = Path(server.store_dir)
        assert server.running and await asyncio.to_thread(store.is_dir)
    assert not server.running
    assert not await asyncio.to_thread(store.exists)


def test_missing_binary_is_reported() -> None:
    with pytest.raises(LocalNatsServerError, match="not found"):
        LocalNatsServer(binary="/nonexistent/nats-server")


def test_old_version_is_rejected(tmp_path: Path) -> None:
    binary = _fake_binary(tmp_path, 'echo "nats-server: v2.9.25"')
    with pytest.raises(LocalNatsServerError, match=r"2\.9\.25.*>= 2\.10"), LocalNatsServer(binary=binary):
        pass


def test_startup_failure_includes_server_output(tmp_path: Path) -> None:
    script = (
        'case "$1" in --version) echo "nats-server: v2.11.0";; *) echo "[FTL] bad flag" >&2; exit 1;; esac'
    )
    binary = _fake_binary(tmp_path, script)
    server = LocalNatsServer(binary=binary, store_dir=str(tmp_path))
    with pytest.raises(LocalNatsServerError, match=r"(?s)exited with code 1.*\[FTL\] bad flag"):
        server.start()
    server.close()
    assert tmp_path.is_dir(), "close() removed a store dir it does not own"


def test_stop_kills_a_server_that_ignores_sigterm(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    script = (
        'case "$1" in --version) echo "nats-server: v2.11.0"; exit 0;; esac\n'
        "trap '' TERM\necho 'Server is ready'\nwhile :; do sleep 0.05; done"
    )
    with LocalNatsServer(binary=_fake_binary(tmp_path, script)) as server:
        assert server.running
        server.stop(timeout=0.2)
        assert not server.running
    assert "ignored SIGTERM" in caplog.text


async def test_database_url_is_an_empty_writable_database(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        name = await conn.fetchval("SELECT current_database()")
        tables = await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        await conn.execute("CREATE TABLE t (id int PRIMARY KEY)")
        await conn.execute("INSERT INTO t VALUES (1), (2)")
        total = await conn.fetchval("SELECT sum(id) FROM t")
    finally:
        await conn.close()
    assert name.startswith("jamjet_t_") and len(name) == len("jamjet_t_") + 8
    assert tables == 0
    assert total == 3


async def test_drop_database_removes_it_even_with_open_sessions(postgres_admin_url: str) -> None:
    name = f"jamjet_t_{uuid.uuid4().hex[:8]}"
    url = await create_database(postgres_admin_url, name)
    session = await asyncpg.connect(url)
    try:
        await drop_database(postgres_admin_url, name)
        await eventually(session.is_closed, message="the open session survived the drop")
    finally:
        await session.close()
    admin = await asyncpg.connect(postgres_admin_url)
    try:
        exists = await admin.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name)
    finally:
        await admin.close()
    assert exists == 0


@pytest.mark.parametrize("name", ["Upper", "1abc", "semi;colon", "a" * 64, ""])
async def test_database_names_are_validated(name: str) -> None:
    with pytest.raises(ValueError, match="invalid database name"):
        await create_database("postgresql://unused@127.0.0.1:1/x", name)


async def test_database_url_from_env_is_returned_without_probing() -> None:
    url = "postgresql://someone@db.invalid:5432/app"
    assert await resolve_database_url({"DATABASE_URL": url}) == (url, "DATABASE_URL")


async def test_no_postgres_and_no_pgserver_names_the_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgres, "LOCAL_DATABASE_URL", f"postgresql://postgres@127.0.0.1:{free_port()}/x")
    monkeypatch.setitem(sys.modules, "pgserver", None)  # makes `import pgserver` raise ImportError
    with pytest.raises(postgres.PostgresUnavailableError) as excinfo:
        await resolve_database_url({})
    assert all(option in str(excinfo.value) for option in ("DATABASE_URL", "5432", "pip install pgserver"))


async def test_eventually_returns_the_first_truthy_value() -> None:
    calls: list[int] = []

    async def third_call() -> int | None:
        calls.append(1)
        return len(calls) if len(calls) >= 3 else None

    assert await eventually(third_call, timeout=5) == 3


async def test_eventually_raises_on_timeout_with_message_and_last_value() -> None:
    with pytest.raises(AssertionError, match=r"queue never drained .*last value: \[\]"):
        await eventually(lambda: [], timeout=0.1, message="queue never drained")


async def test_eventually_reports_the_last_exception() -> None:
    def boom() -> bool:
        raise KeyError("missing-key")

    with pytest.raises(AssertionError, match=r"timed out here.*KeyError.*missing-key") as excinfo:
        await eventually(boom, timeout=0.05, message="timed out here")
    assert isinstance(excinfo.value.__cause__, KeyError)


def test_a_free_port_lies_below_the_ports_outgoing_connections_take() -> None:
    # Between free_port() and the caller's bind, any client connecting anywhere may take a port from
    # the kernel's ephemeral range, which is where bind-to-0 draws from too.
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = {free_port() for _ in range(20)}
    assert all(PRIVATE_PORTS_FROM <= port < low for port in ports), ports
    assert len(ports) > 1, "drawn at random, so that two callers rarely meet"


def test_free_port_does_not_hand_out_a_port_twice_in_a_row() -> None:
    # A cluster takes every port it needs before any server binds one.
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)
