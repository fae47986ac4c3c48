"""Where Docker answers but cannot start a container (no registry), the tests fall back to local Postgres.

The Docker daemon here is a real local HTTP server that answers the ping and the version, and refuses
every image pull and container creation the way a daemon without a registry does.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from jamjet_common.local.postgres import LOCAL_DATABASE_URL
from tests.conftest import TEST_DATABASE_URL_ENV, docker_available, find_test_postgres

NO_REGISTRY = "Get https://registry-1.docker.io/v2/: dial tcp: lookup registry-1.docker.io: no such host"


class RegistrylessDocker(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.endswith("/_ping"):
            self._send(200, b"OK", "text/plain")
        elif self.path.endswith("/version"):
            self._json(200, {"ApiVersion": "1.43", "Version": "24.0.0", "Os": "linux", "Arch": "amd64"})
        else:
            self._json(404, {"message": "page not found"})

    def do_POST(self) -> None:
        if "/images/create" in self.path:
            self._json(500, {"message": NO_REGISTRY})
        else:
            self._json(404, {"message": "No such image: postgres:16-alpine"})

    def do_DELETE(self) -> None:
        self._json(404, {"message": "No such container"})

    def _json(self, status: int, body: dict[str, str]) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def registryless_docker(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), RegistrylessDocker)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host = f"tcp://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("DOCKER_HOST", host)
    monkeypatch.delenv(TEST_DATABASE_URL_ENV, raising=False)
    try:
        yield host
    finally:
        server.shutdown()
        server.server_close()


def test_docker_that_cannot_start_postgres_falls_back_to_the_local_server(registryless_docker: str) -> None:
    answers = docker_available.__wrapped__()
    assert answers, "the fake daemon should answer the ping"
    with contextlib.ExitStack() as stack:
        url, how = find_test_postgres(stack, docker_answers=answers)
    assert url == LOCAL_DATABASE_URL
    assert "Docker answers but could not start" in how and "local server" in how


def test_the_test_database_url_comes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TEST_DATABASE_URL_ENV, "postgresql://someone@db.example:5432/postgres")
    with contextlib.ExitStack() as stack:
        assert find_test_postgres(stack, docker_answers=True) == (
            "postgresql://someone@db.example:5432/postgres",
            TEST_DATABASE_URL_ENV,
        )
