# Runs inside Pyodide (in a Web Worker) once per page, before any app code.
# Defines _bw_run(config, app), called when an app is started: it returns None once the app
# code ran, or the one-line reason it failed (the traceback goes to the logs).
import ast
import asyncio
import importlib.machinery
import importlib.metadata
import importlib.util
import os
import re
import sys
import traceback

import hypha_rpc
import micropip  # imported here, so it is in the snapshot and a start does not pay for it
import pyodide_js
from hypha_rpc import connect_to_server
from pyodide.code import find_imports

PYPI = "https://pypi.org/pypi/{package_name}/json"
BARE_NAME = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*")
#: Source words that mean a package is needed without an import naming it (best effort).
IMPLIED = {"schema_function": "pydantic"}
#: Requirements this page provides itself (ImJoy's API, see ImJoyApi).
PROVIDED = {"imjoy", "imjoy-rpc"}


class StartFailure(Exception):
    """A failure whose message is already what the user should read."""


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


def _done(value=None):
    """An already-settled future: awaiting it is optional (ImJoy code does both)."""
    future = asyncio.get_event_loop().create_future()
    future.set_result(value)
    return future


class ImJoyApi:
    """ImJoy's ``api`` (``from imjoy import api``, ``from imjoy_rpc import api``) over the app's
    ``api``: many public app sources are ImJoy plugins. ImJoy's UI calls have no UI here, so
    each becomes a line in the session's logs, as does ``log`` (which still reaches the server
    too). Every other name is the app's ``api`` (``export`` included: the server itself calls
    the exported service's ``setup()``, as ImJoy does when it loads a plugin)."""

    def __init__(self, app_api):
        self._api = app_api

    @staticmethod
    def _say(label, args, stream=None):
        print(" ".join(([label] if label else []) + [str(a) for a in args]), file=stream or sys.stdout)
        return _done()

    def log(self, *args):
        try:
            forwarded = asyncio.ensure_future(self._api.log(" ".join(str(a) for a in args)))
            forwarded.add_done_callback(lambda f: f.cancelled() or f.exception())  # best effort
        except Exception:
            pass
        return self._say("", args)

    def error(self, *args):
        return self._say("[error]", args, sys.stderr)

    def alert(self, *args):
        return self._say("[alert]", args)

    def showMessage(self, *args, **_):
        return self._say("[message]", args)

    showSnackbar = showMessage

    def showStatus(self, *args):
        return self._say("[status]", args)

    def showProgress(self, progress):
        return self._say("[progress]", [f"{progress}%"])

    def confirm(self, *args):
        self._say("[confirm]", args)
        return _done(True)

    def prompt(self, message, default=None):
        self._say("[prompt]", [message])
        return _done(default)

    def __getattr__(self, name):
        return getattr(self._api, name)


class _WakeableAsyncio:
    """What hypha-rpc's Pyodide connection module sees as ``asyncio``: the real module, except
    that its sleeps (the reconnection back-off, 1 s doubling to 60 s, among them) end early
    when the worker says the Hypha server is back (``_bw_reconnect_now``). A woken sleep is
    harmless elsewhere in that module: each loop checks the connection's state after it."""

    def __init__(self):
        self._sleepers = set()

    def __getattr__(self, name):
        return getattr(asyncio, name)

    async def sleep(self, delay, result=None):
        loop = asyncio.get_running_loop()
        woken = loop.create_future()
        self._sleepers.add(woken)
        timer = loop.call_later(max(0.0, delay), lambda: woken.done() or woken.set_result(None))
        try:
            await woken
        finally:
            timer.cancel()
            self._sleepers.discard(woken)
        return result

    def wake(self):
        for woken in list(self._sleepers):
            if not woken.done():
                woken.set_result(None)


_BW_WAKE = _WakeableAsyncio()
_BW_CONNECTION = None  # the app's hypha-rpc connection, once it has one


def _bw_patch_reconnect():
    import hypha_rpc.pyodide_websocket as module

    module.asyncio = _BW_WAKE


_bw_patch_reconnect()


def _bw_reconnect_now():
    """Called by the worker once the server is back: end the connection's back-off now. One
    word back: connected, reconnecting, attempting, closed, not connected or unsupported."""
    conn = _BW_CONNECTION
    if conn is None:
        return "not connected"
    ws = getattr(conn, "_websocket", None)
    if getattr(conn, "_closed", False):
        return "closed"
    if ws is not None and ws.readyState == 1:  # OPEN, and not inside a reconnection
        return "attempting" if getattr(conn, "_reconnected_event", None) is not None else "connected"
    task = getattr(conn, "_reconnect_task", None)
    if task is None or not hasattr(task, "done"):
        return "unsupported"
    if task.done():
        return "closed"
    _BW_WAKE.wake()
    return "reconnecting"


FOLLOW_SECONDS = 10


class _BwFollow:
    """Several Hypha replicas behind one load balancer (the same as replica-follow.js for the
    JS pages): the replica whose app controller asked for this page waits for the app's
    services on its own process only, and the page may have reached another one. The worker
    passes the asking replica's manager (from the server-stamped caller of the start, never
    from the start config) as ``asking_manager``; while the page's connection reports another
    manager, each service the page registers is registered once more, the same service info
    under the page's own client id, through the asking replica's manager. ``settle()`` waits
    for those made so far and raises StartFailure, naming the reason, if one failed; later
    failures are printed only."""

    def __init__(self, server, asking_manager):
        self._asking = asking_manager
        self._rpc = getattr(server, "rpc", None)
        self._pending = set()
        self._failure = None
        self._settled = False
        self._manager = None  # the asking replica's manager service (a future), fetched once
        if not asking_manager:
            return
        own = getattr(self._rpc, "register_service", None)
        if own is None or not hasattr(self._rpc, "get_remote_service"):
            here = self._reached()
            if here and here != asking_manager:
                self._failure = (f"the app's page is connected to Hypha replica {here}, not to {asking_manager} whose "
                                 "app controller started it, and this hypha-rpc cannot register its services there "
                                 "too (no register_service/get_remote_service on its RPC object)")
            return

        async def register(api, config=None, **kwargs):
            info = await own(api, config, **kwargs)
            if ({**(config or {}), **kwargs}).get("notify", True):
                await self._follow(info)
            return info

        def tracked(*args, **kwargs):
            step = asyncio.ensure_future(register(*args, **kwargs))
            self._pending.add(step)
            step.add_done_callback(self._pending.discard)
            return step

        self._rpc.register_service = tracked  # what export calls
        server.register_service = tracked  # bound to the original when the client connected
        if hasattr(server, "registerService"):
            server.registerService = tracked

    def _reached(self):
        connection = getattr(self._rpc, "_connection", None)
        return getattr(connection, "manager_id", None)

    async def _follow(self, info):
        here = self._reached()
        if here == self._asking:
            return
        try:
            if self._manager is None:  # one lookup, shared by the registrations made meanwhile
                self._manager = asyncio.ensure_future(asyncio.wait_for(self._rpc.get_remote_service(
                    f"*/{self._asking}:default", {"timeout": FOLLOW_SECONDS, "case_conversion": "snake"}),
                    FOLLOW_SECONDS))
            manager = await self._manager
            await asyncio.wait_for(manager.register_service(info), FOLLOW_SECONDS)
            name = str(info.get("id", "")).split(":")[-1]
            print(f"[browser-worker] service {name} registered also through {self._asking} (the page reached {here})")
        except Exception as exc:
            self._manager = None
            detail = str(exc).strip() or f"no answer within {FOLLOW_SECONDS} s"
            reason = (f"the app's page is connected to Hypha replica {here}, not to {self._asking} whose app "
                      f"controller started it (the load balancer chose), and could not register its services "
                      f"through {self._asking}: {detail}")
            if self._settled:
                print(f"[browser-worker] {reason}", file=sys.stderr)
            elif self._failure is None:
                self._failure = reason

    async def settle(self):
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
        self._settled = True
        if self._failure:
            raise StartFailure(self._failure)


def _bw_imjoy_modules():
    """``imjoy`` and ``imjoy_rpc`` as thin names over hypha-rpc (their ``api`` is set per start)."""
    import types

    for name in ("imjoy", "imjoy_rpc"):
        module = types.ModuleType(name, "ImJoy's plugin API, served by hypha-rpc in this worker")
        module.api = None
        module.hypha = hypha_rpc
        module.connect_to_server = connect_to_server
        module.__path__ = []  # a package, so `from imjoy_rpc.hypha import connect_to_server` works
        module.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
        sys.modules[name] = module
        sys.modules[name + ".hypha"] = hypha_rpc


_bw_imjoy_modules()


class PackageBase:
    """The Pyodide package base this page booted with: its lock file, read once."""

    def __init__(self):
        self.url = str(pyodide_js.lockfileBaseUrl)
        self.packages = pyodide_js.lockfile.packages.to_py()
        self.by_import = {imp: key for key, p in self.packages.items() for imp in p.get("imports", [])}
        self.failed = {}  # lock key -> why loading it failed

    def key(self, name):
        key = re.sub(r"[-_.]+", "-", name).lower()
        return key if key in self.packages else None

    async def load(self, keys):
        """Load lock packages (loadPackage only logs failures); return those that failed."""
        messages = []

        def on_error(message):
            messages.append(message)
            print(message, file=sys.stderr)

        await pyodide_js.loadPackage(list(keys), errorCallback=on_error)
        loaded = pyodide_js.loadedPackages.to_py()
        for key in keys:
            name = self.packages[key]["name"]
            self.failed.pop(key, None)
            if name not in loaded:
                heading = f"The following error occurred while loading {name}:"
                after = [m for prev, m in zip(messages, messages[1:]) if prev.strip() == heading]
                reason = (after or messages or ["see the logs"])[-1]
                self.failed[key] = f"{self.packages[key]['file_name']}: {reason}"
        return [key for key in keys if key in self.failed]


async def _bw_install(base, requirements, wheelhouse):
    """Each requirement from the Pyodide lock if it is there, else the wheelhouse, else PyPI."""
    for req in requirements:
        bare = BARE_NAME.fullmatch(req)
        if bare and re.sub(r"[-_.]+", "-", bare.group(1)).lower() in PROVIDED:
            print(f"requirement {req!r}: provided by this worker (over hypha-rpc)")
            continue
        key = base.key(bare.group(1)) if bare else None
        if key:
            if await base.load([key]):
                raise StartFailure(f"requirement {req!r} could not be loaded from the Pyodide package base "
                                   f"{base.url}: {base.failed[key]}")
            continue
        try:
            await micropip.install(req, index_urls=[wheelhouse, PYPI])
            if bare:
                importlib.metadata.version(bare.group(1))  # micropip can fail quietly
        except Exception as exc:
            detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise StartFailure(
                f"requirement {req!r} could not be installed: not in the Pyodide package base {base.url}, "
                f"the local wheelhouse {wheelhouse.split('{')[0]}, or PyPI ({detail})"
            ) from None


async def _bw_load_imports(base, script):
    """Load the lock packages the app imports (loadPackagesFromImports, minus modules that are
    already there: the wheelhouse's copies must not be fetched again from the base). A failure
    is only logged: the import may be optional; if not, it fails with the reason (_bw_summary)."""
    try:
        names = {n.split(".")[0] for n in find_imports(script)}
    except Exception:
        names = set()
    names |= {name for word, name in IMPLIED.items() if word in script}
    keys = sorted({base.by_import[n] for n in names if n in base.by_import and importlib.util.find_spec(n) is None})
    failed = await base.load(keys) if keys else []
    for key in failed:
        print(f"warning: package {key!r} of the Pyodide package base {base.url} could not be loaded: "
              f"{base.failed[key]}", file=sys.stderr)


def _bw_summary(exc, base):
    """One line naming the exception (and, for a missing module, where it was looked for)."""
    if isinstance(exc, StartFailure):
        return str(exc)
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        key = base.by_import.get(exc.name.split(".")[0])
        if key in base.failed:
            where = f"package {key!r} of the Pyodide package base {base.url} could not be loaded: {base.failed[key]}"
        elif key:
            where = (f"the Pyodide package base {base.url} has it in package {key!r}, which was not loaded; "
                     f"add {key!r} to the app's requirements")
        else:
            where = (f"not in the Pyodide package base {base.url}; list the package that provides it in the "
                     "app's requirements to install it from the local wheelhouse or PyPI")
        return f"ModuleNotFoundError: No module named {exc.name!r} ({where})"
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__


BASE = PackageBase()  # read at boot, so a warm page's start does not pay for it


def _bw_restored():
    """Called once in a page booted from the worker's memory snapshot, after its site-packages
    files were written back: every such page starts from the same interpreter state, so what
    must differ between sessions is seeded again here."""
    import random

    random.seed()  # from os.urandom (crypto.getRandomValues), not the snapshot's state
    tempfile = sys.modules.get("tempfile")
    if tempfile is not None:
        tempfile._name_sequence = None
    importlib.invalidate_caches()  # the files are new; finders must not trust cached listings


async def _bw_run(config, app, base=BASE):
    try:
        await _bw_start(base, config.to_py() if hasattr(config, "to_py") else config,
                        app.to_py() if hasattr(app, "to_py") else app)
    except Exception as exc:
        if not isinstance(exc, StartFailure):
            traceback.print_exc()
        return _bw_summary(exc, base)
    return None


def _bw_write_files(spec):
    """The app's ``required_artifact_files`` (fetched by the worker) into the file system; the
    root and each listed directory go on ``sys.path``, as the built-in worker does."""
    import base64

    root = spec["root"]
    for item in spec["files"]:
        path = os.path.join(root, item["path"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(item["data"]))
    for folder in [root] + [os.path.join(root, e.rstrip("/")) for e in spec["entries"]
                            if os.path.isdir(os.path.join(root, e.rstrip("/")))]:
        if folder not in sys.path:
            sys.path.insert(0, folder)
    importlib.invalidate_caches()
    print(f"Wrote {len(spec['files'])} required artifact file(s) to {root}")


async def _bw_start(base, config, app):
    for key in ("server_url", "workspace", "client_id", "token", "app_id"):
        os.environ["HYPHA_" + key.upper()] = config.get(key) or ""
    if config.get("files"):
        _bw_write_files(config["files"])
    script, name = app["script"], app.get("name") or "app"
    wheelhouse = (config.get("assets") or {}).get("url", "").rstrip("/") + "/simple/{package_name}/"
    await _bw_install(base, list(app.get("requirements") or []), wheelhouse)
    await _bw_load_imports(base, script)
    server = await connect_to_server({
        "server_url": config["server_url"], "workspace": config.get("workspace"),
        "client_id": config.get("client_id"), "token": config.get("token"), "name": name,
    })
    global _BW_CONNECTION
    _BW_CONNECTION = getattr(getattr(server, "rpc", None), "_connection", None)
    follow = _BwFollow(server, config.get("asking_manager"))
    api = AppApi(server, name)
    hypha_rpc.api = api
    sys.modules["imjoy"].api = sys.modules["imjoy_rpc"].api = ImJoyApi(api)
    namespace = {"__name__": "__main__", "api": api}
    code = compile(script, "<app>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, namespace)
    if asyncio.iscoroutine(result):
        await result
    if api._pending:
        await asyncio.gather(*api._pending)
    await follow.settle()
