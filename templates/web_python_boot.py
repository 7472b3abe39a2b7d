# Runs inside Pyodide (in a Web Worker) once per page, before any app code.
# Defines _bw_run(config, script, requirements, name), called when an app is started.
import ast
import asyncio
import os

import hypha_rpc
from hypha_rpc import connect_to_server


class AppApi:
    """What the app sees as ``api`` (also ``from hypha_rpc import api``): the connected
    server, plus ``export(obj)``, which registers ``obj`` as the app's ``default`` service."""

    def __init__(self, server, name):
        self._server = server
        self._name = name
        self._pending = []

    def export(self, obj, config=None):
        if isinstance(obj, dict):
            service = dict(obj)
        else:
            service = {k: getattr(obj, k) for k in dir(obj) if not k.startswith("_")}
        service.update({"id": "default", "name": service.get("name") or self._name})
        service["config"] = {**service.get("config", {}), **(config or {})}
        registration = asyncio.ensure_future(self._server.register_service(service, {"overwrite": True}))
        self._pending.append(registration)
        return registration

    def __getattr__(self, name):
        return getattr(self._server, name)


async def _bw_install(requirements, assets_url):
    import micropip

    local = assets_url.rstrip("/") + "/simple/{package_name}/"
    try:
        await micropip.install(requirements, index_urls=[local, "https://pypi.org/pypi/{package_name}/json"])
    except Exception as exc:
        raise RuntimeError(
            f"could not install requirement(s) {', '.join(requirements)}: {exc} "
            "(looked in the local wheelhouse, then the package index; add wheels with "
            "`browser-worker assets add PACKAGE`)"
        ) from None


async def _bw_run(config, script, requirements, name):
    if hasattr(config, "to_py"):
        config = config.to_py()
    if hasattr(requirements, "to_py"):
        requirements = requirements.to_py()
    for key in ("server_url", "workspace", "client_id", "token", "app_id"):
        os.environ["HYPHA_" + key.upper()] = config.get(key) or ""
    if requirements:
        await _bw_install(list(requirements), (config.get("assets") or {}).get("url", ""))
    server = await connect_to_server({
        "server_url": config["server_url"], "workspace": config.get("workspace"),
        "client_id": config.get("client_id"), "token": config.get("token"), "name": name,
    })
    api = AppApi(server, name)
    hypha_rpc.api = api
    namespace = {"__name__": "__main__", "api": api}
    code = compile(script, "<app>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, namespace)
    if asyncio.iscoroutine(result):
        await result
    if api._pending:
        await asyncio.gather(*api._pending)
