"""The Starlette application: the original jamjet-server's routes, plus SSE and /openapi.json."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from jamjet_common.artifacts import ArtifactStore
from services.gateway import agents, artifacts, events, executions, progress, workers
from services.gateway.errors import HttpError
from services.gateway.http import Backend, endpoint, error_response, json_response
from services.gateway.openapi import document


def _version() -> str:
    try:
        return version("jamjet-runtime")
    except PackageNotFoundError:
        return "0.0.0"


VERSION = _version()
OPENAPI = document(VERSION)


async def health(request: Request) -> Response:
    backend: Backend = request.app.state.backend
    if not backend.client.nc.is_connected:
        return error_response(HttpError(503, "unavailable", "not connected to NATS"))
    return json_response({"status": "ok", "version": VERSION})


async def openapi(request: Request) -> Response:
    return json_response(OPENAPI)


async def not_found(request: Request, exc: Exception) -> Response:
    return error_response(HttpError(404, "not_found", f"no route {request.url.path}"))


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    return error_response(HttpError(405, "method_not_allowed", f"{request.method} is not allowed here"))


def routes() -> list[Route]:
    read, write = endpoint, _writer
    return [
        Route("/health", health),
        Route("/openapi.json", openapi),
        Route("/workflows", write(executions.register_workflow), methods=["POST"]),
        Route("/executions", write(executions.start_execution), methods=["POST"]),
        Route("/executions", read(executions.list_executions), methods=["GET"]),
        Route("/executions/{execution_id}", read(executions.get_execution)),
        Route("/executions/{execution_id}/cancel", write(executions.cancel_execution), methods=["POST"]),
        Route("/executions/{execution_id}/events", read(events.get_events)),
        Route("/executions/{execution_id}/progress", read(progress.get_progress)),
        Route("/executions/{execution_id}/approve", write(executions.approve), methods=["POST"]),
        Route("/executions/{execution_id}/approvals", read(executions.list_approvals)),
        Route(
            "/executions/{execution_id}/external-event", write(executions.external_event), methods=["POST"]
        ),
        Route("/artifacts", write(artifacts.put_artifact), methods=["POST"]),
        Route("/artifacts/{hash}", read(artifacts.get_artifact)),
        Route("/agents", write(agents.register_agent), methods=["POST"]),
        Route("/agents", read(agents.list_agents), methods=["GET"]),
        Route("/agents/{agent_id}", read(agents.get_agent)),
        Route("/agents/{agent_id}/activate", write(agents.activate_agent), methods=["POST"]),
        Route("/agents/{agent_id}/deactivate", write(agents.deactivate_agent), methods=["POST"]),
        Route("/workers", read(workers.list_workers)),
    ]


def _writer(handler: Any) -> Any:
    return endpoint(handler, write=True)


def build_app(backend: Backend, artifact_store: ArtifactStore) -> Starlette:
    app = Starlette(routes=routes(), exception_handlers={404: not_found, 405: method_not_allowed})
    app.state.backend = backend
    app.state.artifacts = artifact_store
    return app
