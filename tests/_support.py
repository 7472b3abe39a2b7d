"""Helpers shared by the test modules (import them from here, never from another test module).

Nothing here launches anything by itself: the helpers that drive a worker, a browser or a
``serve`` process are only called by e2e tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import struct
import sys
import time
import uuid
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable
from browser_worker.testing import internals

if TYPE_CHECKING:
    from aiohttp import web

    from browser_worker import BrowserWorker

#: A window app that exports ``echo``.
APP_JS = "await api.export({ setup() {}, echo(x) { return x; } });"

#: The same as an installable source with ``<config>``, and a console line to look for.
ECHO_APP = """<config lang="json">{"name": "Echo", "type": "window", "version": "0.1.0"}</config>
<script lang="javascript">
console.log("echo app says hello");
api.export({ setup() {}, echo(x) { return x; } });
</script>
"""


# ----- start configs ---------------------------------------------------------------------------


def web_app_config(url: str, **manifest: Any) -> dict[str, Any]:
    """A direct start config for a web app (an entry URL) in alice's workspace."""
    client_id = f"w-{uuid.uuid4().hex[:10]}"
    return {
        "id": f"ws-user-alice/{client_id}",
        "workspace": "ws-user-alice",
        "client_id": client_id,
        "app_id": "web-app-test",
        "entry_point": url,
        "manifest": {"type": "web-app", "entry_point": url, **manifest},
    }


def bad_configs(window_config: Callable[..., dict[str, Any]]) -> dict[str, tuple[dict[str, Any], str]]:
    """Start configs that must be refused, and the field each error must name."""
    def web_app(**manifest: Any) -> dict[str, Any]:
        return web_app_config("https://example.org/", **manifest)

    window = window_config(APP_JS)
    no_source = {**window}
    no_source.pop("source")
    return {
        "javascript url": (web_app_config("javascript:alert(1)"), "scheme"),
        "chrome url": (web_app_config("chrome://settings"), "scheme"),
        "empty url": ({**web_app_config(""), "manifest": {"type": "web-app"}}, "entry_point"),
        "cookies": (web_app(cookies=[{"value": "x"}]), "cookies"),
        "local_storage": (web_app(local_storage=["a"]), "local_storage"),
        "permissions": (web_app(permissions=["root"]), "permission"),
        "requirements": ({**window, "manifest": {"type": "window", "requirements": [1]}}, "requirements"),
        "content_hash": ({**window, "manifest": {"type": "window", "content_hash": ["x"]}}, "content_hash"),
        "no source": (no_source, "source"),
        "nan timeout": ({**window, "timeout": math.nan}, "timeout"),
        "inf timeout": ({**window, "timeout": math.inf}, "timeout"),
        "huge timeout": ({**window, "timeout": 10**9}, "timeout"),
        "id type": ({**window, "id": 5}, "id"),
        "workspace type": ({**window, "workspace": 5}, "workspace"),
    }


# ----- waiting ---------------------------------------------------------------------------------


async def wait_for(predicate: Callable[[], Any], timeout: float = 15.0) -> None:
    """Poll ``predicate`` every 50 ms until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def settle(w: "BrowserWorker", size: int | None = None) -> None:
    """Back to baseline: no session, no slot, and only the warm contexts Chromium counts
    (``size``; by default the pool's warm targets)."""
    if size is None:
        size = w.stats().warm_target["window"] + w.stats().warm_target["web-python"]
    deadline = time.monotonic() + 20
    while not (w.stats().warm == size and w.context_count() == size):
        state = (f"idle={w.stats().warm} contexts={w.context_count()} in_use={w.stats().in_use} "
                 f"waiting={w.stats().queue_length} live={[(s.id, s.status.value) for s in internals(w).sessions.active_sessions()]}")
        assert time.monotonic() < deadline, state
        await asyncio.sleep(0.1)
    assert w.stats().active == ()
    assert w.stats().in_use == 0 and w.stats().queue_length == 0 and w.get_load() == 0


async def wait_warm(worker: "BrowserWorker", kind: str = "web-python", timeout: float = 180) -> None:
    """Until the pool holds a warm page of ``kind``."""
    deadline = time.monotonic() + timeout
    while worker.stats().warm_by_type[kind] < 1:
        assert time.monotonic() < deadline, f"no warm {kind} page after {timeout}s"
        await asyncio.sleep(0.2)


async def read_until(stream: asyncio.StreamReader, needle: str, timeout: float) -> str:
    """Lines of ``stream`` up to and including the one holding ``needle`` (or its end)."""
    seen = ""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        line = await asyncio.wait_for(stream.readline(), max(0.1, deadline - time.monotonic()))
        if not line:
            break
        seen += line.decode(errors="replace")
    return seen


# ----- processes and services ------------------------------------------------------------------


def browser_pids() -> set[int]:
    """Main Chromium processes started from this test process (renderers carry --type=)."""
    import psutil

    pids = set()
    for proc in psutil.Process().children(recursive=True):
        try:
            cmd = proc.cmdline()
        except psutil.Error:
            continue
        if cmd and "chrom" in os.path.basename(cmd[0]) and not any(a.startswith("--type=") for a in cmd):
            pids.add(proc.pid)
    return pids


async def serve_process(server_url: str, token: str, service_id: str, *,
                        own_group: bool = False, keep_reading: bool = False,
                        env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    """``browser-worker serve`` in a subprocess, once it says it is serving. ``own_group``:
    in its own process group, so ``kill_group`` takes its Chromium too (even on SIGKILL);
    ``keep_reading``: drain its output from then on, so a chatty worker never blocks; ``env``:
    more settings for it."""
    env = {**os.environ, "HYPHA_SERVER_URL": server_url, "HYPHA_TOKEN": token,
           "BROWSER_WORKER_SERVICE_ID": service_id, "BROWSER_WORKER_POOL_SIZE": "1",
           "BROWSER_WORKER_PYTHON_POOL_SIZE": "0", **(env or {})}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "browser_worker", "serve",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=env,
        start_new_session=own_group,
    )
    seen = b""
    while b"Ctrl-C to stop" not in seen:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)  # type: ignore[union-attr]
        assert line, seen.decode(errors="replace")
        seen += line
    if keep_reading:
        _readers.add(reader := asyncio.ensure_future(_read_all(proc)))
        reader.add_done_callback(_readers.discard)
    return proc


_readers: set["asyncio.Future[None]"] = set()


async def _read_all(proc: asyncio.subprocess.Process) -> None:
    while await proc.stdout.readline():  # type: ignore[union-attr]
        pass


def kill_group(proc: asyncio.subprocess.Process, sig: int = signal.SIGKILL) -> None:
    """Signal a process started with ``own_group`` and everything it started."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


async def our_workers(apps: Any) -> list[dict[str, Any]]:
    """The ``browser-worker`` services the server's app controller lists."""
    return [w for w in await apps.list_workers() if w["id"].endswith(":browser-worker")]


async def registered_clients(alice: Any) -> set[str]:
    """Client ids in alice's workspace that have a ``default`` service registered."""
    return {s["id"].split("/", 1)[1].split(":", 1)[0] for s in await alice.list_services()
            if s["id"].endswith(":default")}


# ----- images ----------------------------------------------------------------------------------


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n", png[:16]
    return struct.unpack(">II", png[16:24])


def webp_size(webp: bytes) -> tuple[int, int]:
    """Width and height from a WebP's first chunk (VP8X, VP8 or VP8L)."""
    assert webp[:4] == b"RIFF" and webp[8:12] == b"WEBP", webp[:16]
    chunk = webp[12:16]
    if chunk == b"VP8X":
        return int.from_bytes(webp[24:27], "little") + 1, int.from_bytes(webp[27:30], "little") + 1
    if chunk == b"VP8 ":
        w, h = struct.unpack("<HH", webp[26:30])
        return w & 0x3FFF, h & 0x3FFF
    assert chunk == b"VP8L", chunk
    bits = int.from_bytes(webp[21:25], "little")
    return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1


# ----- files -----------------------------------------------------------------------------------


def make_wheel(folder: Path, name: str, value: int) -> Path:
    """A minimal pure-Python wheel, so the test needs no package index."""
    path = folder / f"{name}-1.0-py3-none-any.whl"
    dist = f"{name}-1.0.dist-info"
    with zipfile.ZipFile(path, "w") as whl:
        whl.writestr(f"{name}/__init__.py", f"VALUE = {value}\n")
        whl.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        whl.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        whl.writestr(f"{dist}/RECORD", "")
    return path


@contextlib.asynccontextmanager
async def serving(app: "web.Application", *, tls_dir: Path | None = None) -> AsyncIterator[str]:
    """An aiohttp app on a free loopback port for the block: its base URL (no trailing slash).
    ``tls_dir``: serve HTTPS with a self-signed certificate made there (no browser trusts it)."""
    import ssl
    import subprocess

    from browser_worker._net.loopback import start_site

    context = None
    if tls_dir is not None:
        key, cert = tls_dir / "key.pem", tls_dir / "cert.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                       check=True, capture_output=True)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
    runner, base = await start_site(app, ssl_context=context)
    try:
        yield base
    finally:
        await runner.cleanup()


# ----- images ----------------------------------------------------------------------------------


def dark_pixels(png: bytes, rows: int = 240) -> int:
    """Pixels darker than mid-grey in the top ``rows`` rows of an 8-bit RGB(A) PNG (what a
    headline in black leaves; a blank page has none). Decoded here: no imaging dependency."""
    import struct
    import zlib

    assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        body = png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
    bpp = 3 if color == 2 else 4
    stride = width * bpp
    raw = zlib.decompressobj().decompress(idat, (stride + 1) * min(rows, height))
    prev = bytearray(stride)
    dark = 0
    for y in range(min(rows, height)):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, corner = prev[i], (prev[i - bpp] if i >= bpp else 0)
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + ((left + up) >> 1)) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        dark += sum(1 for x in range(0, stride, bpp) if line[x] + line[x + 1] + line[x + 2] < 384)
        prev = line
    return dark


async def worker_service_id(client: Any) -> str:
    """The full id of the ``browser-worker`` service a hypha-rpc client sees."""
    return next(s["id"] for s in await client.list_services({"type": "server-app-worker"})
                if s["id"].endswith(":browser-worker"))
