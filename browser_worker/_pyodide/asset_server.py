"""A local HTTP server for ``static/`` (Pyodide, wheels), so pages need no internet.

Binds 127.0.0.1 on a random port. Files never change under a name, so they are served with a
year-long immutable cache header; CORS is open because pages live at the Hypha server's origin.
``/simple/<project>/`` answers the PEP 691 JSON index from the wheelhouse, which is how
micropip finds an app's extra requirements locally before trying a real package index.
``/pyodide-packages/`` serves an operator's local Pyodide package mirror, when one is set
(see ``pyodide_packages.py``). ``/pyodide-snapshot/<key>`` serves the worker's snapshot of a
booted Pyodide (see ``pyodide_snapshot.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp import web

from browser_worker._net import start_site
from browser_worker._pyodide.assets import AssetPaths, normalize
from browser_worker._pyodide.packages import LOCK_FILE, ROUTE
from browser_worker._pyodide.snapshot import SnapshotStore

CACHE = "public, max-age=31536000, immutable"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"


@web.middleware
async def _headers(request: web.Request, handler: web.RequestHandler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # a 404 needs CORS too, or pages see only "Failed to fetch"
        exc.headers["Access-Control-Allow-Origin"] = "*"
        raise
    response.headers["Access-Control-Allow-Origin"] = "*"
    immutable = request.path.startswith(("/pyodide/", "/wheels/", ROUTE)) and not request.path.endswith(LOCK_FILE)
    if immutable and response.status == 200:
        response.headers["Cache-Control"] = CACHE
    return response


class AssetServer:
    def __init__(
        self, paths: AssetPaths, host: str = "127.0.0.1", port: int = 0, packages_dir: Path | None = None,
        snapshot: SnapshotStore | None = None,
    ) -> None:
        self.paths = paths
        self.packages_dir = packages_dir
        self.snapshot = snapshot
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application(middlewares=[_headers])
        app.router.add_get("/simple/{project}/", self._simple)
        for folder in (self.paths.pyodide, self.paths.wheels):
            folder.mkdir(parents=True, exist_ok=True)
            app.router.add_static(f"/{folder.name}/", folder, follow_symlinks=False)
        if self.packages_dir is not None:
            app.router.add_static(ROUTE, self.packages_dir, follow_symlinks=False)
        if self.snapshot is not None:
            self.snapshot.add_routes(app)
        self._runner, self.url = await start_site(app, self._host, self._port)
        return self.url

    async def close(self) -> None:
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    async def _simple(self, request: web.Request) -> web.Response:
        project = normalize(request.match_info["project"])
        files = self.paths.wheel_index().get(project)
        if not files:
            raise web.HTTPNotFound(text=f"{project} is not in the local wheelhouse")
        body = {
            "meta": {"api-version": "1.0"},
            "name": project,
            "files": [
                {"filename": name, "url": f"{self.url}/wheels/{name}", "hashes": {}}
                for name in files
                if Path(self.paths.wheels / name).is_file()
            ],
        }
        # Exactly this content type (no charset parameter): micropip matches it literally.
        return web.Response(body=json.dumps(body).encode(), headers={"Content-Type": SIMPLE_JSON})
