"""The web console's files (``console/dist``, built by ``npm run build`` in ``console/``) at ``/``.

The files are public: they hold no data. The page asks for an API token and sends it on every API
call as ``Authorization: Bearer``; live streams are read with ``fetch`` (which sends that header), so
no token ever travels in a URL or a cookie. Pages are addressed by the URL fragment (``/#/executions``)
so they never collide with the API's paths; a browser asking for any other unknown path gets the page.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from services.gateway.errors import HttpError
from services.gateway.http import Backend, error_response, json_response


def console_routes(dist: Path) -> list[BaseRoute]:
    assets = dist / "assets"
    mounted: list[BaseRoute] = (
        [Mount("/assets", app=StaticFiles(directory=assets))] if assets.is_dir() else []
    )
    return [Route("/", index), Route("/console/config", config), *mounted]


async def index(request: Request) -> Response:
    page = _dist(request) / "index.html"
    if not page.is_file():
        missing = f"{page} is missing: run `npm ci && npm run build` in console/"
        return error_response(HttpError(404, "console_not_built", missing))
    # The page names its hashed assets: it must be re-read, the assets may be cached for ever.
    return FileResponse(page, headers={"Cache-Control": "no-cache"})


async def config(request: Request) -> Response:
    """What the page needs before login: the tracing UI's URL template, if one is configured."""
    backend: Backend = request.app.state.backend
    return json_response({"trace_url": backend.config.trace_url})


def wants_page(request: Request) -> bool:
    """A browser navigating (not an API client): it gets the page instead of a JSON 404."""
    return request.method == "GET" and "text/html" in request.headers.get("accept", "")


def _dist(request: Request) -> Path:
    backend: Backend = request.app.state.backend
    return backend.config.console_dir
