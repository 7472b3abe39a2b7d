"""Issue 28: the container image, built by `make image`'s script and run as an operator runs it.

A real Hypha server on this machine; the worker in a container with a read-only root filesystem,
as the image's non-root user, on the host's network: it registers, runs an app the server starts,
is screenshotted through the server, answers its health check, and drains on SIGTERM. A second
container renders a page with `browser-worker run` onto a mounted folder. Skipped, with the
reason, where neither podman nor docker can run a container; the figures it measures are printed
(`pytest -s`) and quoted in docs/deployment.md."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import aiohttp
import pytest
from hypha_rpc import connect_to_server

from browser_worker.testing.hypha_server import LocalHyphaServer, free_port

from ._support import png_size

pytestmark = [pytest.mark.e2e, pytest.mark.container, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "browser-worker:latest"  # what `make image` builds
BASE = "docker.io/library/debian:bookworm-slim"
DRAIN = 10.0  # BROWSER_WORKER_DRAIN_TIMEOUT of the served container
SERVICE_ID = "bw-container"
PNG = b"\x89PNG\r\n\x1a\n"

APP = """<config lang="json">{"name": "Container Probe", "type": "window", "version": "0.1.0"}</config>
<script lang="javascript">
document.body.innerHTML = '<h1 style="color:#c30">served from a container</h1>';
api.export({ setup() {}, echo(x) { return x; } });
</script>
"""

#: What the tests measured, printed at the end of the module.
FIGURES: dict[str, str] = {}


@dataclass(frozen=True)
class Engine:
    """podman or docker, with the environment it needs on this machine."""

    name: str
    env: dict[str, str]

    def run(self, *args: str, timeout: float = 120, check: bool = True,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([self.name, *args], env=env or self.env, capture_output=True, text=True,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"`{self.name} {args[0]}` exited {proc.returncode}:\n{proc.stderr[-3000:]}")
        return proc

    def logs(self, container: str) -> str:
        proc = self.run("logs", container, check=False, timeout=30)
        return (proc.stdout + proc.stderr)[-6000:]


def find_engine() -> tuple[Engine | None, str]:
    """The engine the build script would use, or why there is none."""
    name = os.environ.get("CONTAINER_ENGINE") or next(
        (n for n in ("podman", "docker") if shutil.which(n)), None)
    if name is None:
        return None, "neither podman nor docker is installed (make setup installs Debian's podman)"
    env = dict(os.environ)
    if name == "podman" and "CONTAINERS_CONF" not in env and shutil.which("runc"):
        env["CONTAINERS_CONF"] = str(ROOT / "deploy" / "podman" / "containers.conf")  # as the script does
    try:
        info = subprocess.run([name, "info"], env=env, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"`{name} info` failed: {exc}"
    if info.returncode != 0:
        return None, f"`{name} info` failed, so it cannot run containers here: {info.stderr.strip()[-300:]}"
    return Engine(name, env), ""


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    found, why = find_engine()
    if found is None:
        pytest.skip(why)
    yield found
    if FIGURES:
        print("\ncontainer figures: " + "; ".join(f"{k} {v}" for k, v in FIGURES.items()))


def build(engine: Engine) -> tuple[float, str]:
    """Run the build script as `make image` does; its seconds and its output."""
    t0 = time.monotonic()
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "build_image.sh")], cwd=ROOT,
                          env={**engine.env, "CONTAINER_ENGINE": engine.name, "IMAGE": IMAGE},
                          capture_output=True, text=True, timeout=800)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        # An engine that has the base image but cannot run it cannot run this test at all.
        if engine.run("image", "inspect", BASE, check=False).returncode == 0:
            probe = engine.run("run", "--rm", "--network", "host", BASE, "true", check=False, timeout=120)
            if probe.returncode != 0:
                pytest.skip(f"{engine.name} cannot run a container here: {probe.stderr.strip()[-300:]}")
        raise AssertionError(f"scripts/build_image.sh failed:\n{out[-5000:]}")
    return time.monotonic() - t0, out


@pytest.fixture(scope="module")
def image(engine: Engine) -> str:
    seconds, _ = build(engine)
    size = int(engine.run("image", "inspect", "--format", "{{.Size}}", IMAGE).stdout.strip())
    FIGURES["build"] = f"{seconds:.0f} s"
    FIGURES["image size"] = f"{size / 1e6:.0f} MB"
    return IMAGE


def package_wheel() -> bytes:
    """The package's wheel the build script made (its bytes change only with the code)."""
    return b"".join(p.read_bytes() for p in sorted((ROOT / "build" / "image" / "app").glob("*.whl")))


def image_config(engine: Engine) -> dict[str, Any]:
    """The image's config; its health check asked for apart (podman's JSON of the whole config
    is the OCI one, which has no HEALTHCHECK)."""
    config = json.loads(engine.run("image", "inspect", "--format", "{{json .Config}}", IMAGE).stdout)
    config["Healthcheck"] = json.loads(
        engine.run("image", "inspect", "--format", "{{json .Config.Healthcheck}}", IMAGE).stdout or "null")
    return config


def test_the_image_is_what_the_docs_say_and_a_rebuild_reuses_every_layer(engine: Engine, image: str) -> None:
    config = image_config(engine)
    assert config.get("User") not in (None, "", "0", "root") and not config["User"].startswith("0:"), config.get("User")
    assert config["Entrypoint"][-1] == "browser-worker" and config["Cmd"] == ["serve"]
    check = (config.get("Healthcheck") or {}).get("Test") or []
    assert check[:1] == ["CMD"] and any("/health" in part for part in check), f"no /health check: {check}"
    env = dict(e.split("=", 1) for e in config["Env"])
    assert Path(env["BROWSER_WORKER_STATIC"]).is_absolute() and env["BROWSER_WORKER_METRICS_PORT"] != "0"

    before = package_wheel()
    seconds, out = build(engine)  # every step from the cache, but the package's if its code changed
    FIGURES["rebuild, nothing changed"] = f"{seconds:.0f} s"
    if engine.name == "podman":  # each step but FROM says whether it came from the cache
        steps = re.split(r"^STEP \d+/\d+: ", out, flags=re.M)[2:]
        assert steps, out[-3000:]
        if package_wheel() != before:  # the code was edited meanwhile: its steps ran again
            steps = steps[:next(i for i, step in enumerate(steps) if step.startswith("COPY build/image/app/"))]
        fresh = [step.splitlines()[0] for step in steps if "--> Using cache" not in step]
        assert not fresh, f"rebuilt without a change: {fresh}"


def test_run_renders_a_page_to_a_png_on_a_mounted_folder(engine: Engine, image: str) -> None:
    with tempfile.TemporaryDirectory(prefix="bw-container-run-") as folder:
        out = Path(folder)
        out.chmod(0o777)  # the image's user writes here
        (out / "page.html").write_text('<body style="background:#08c"><h1>rendered in a container</h1></body>')
        proc = engine.run("run", "--rm", "--network", "host", "--read-only", "--tmpfs", "/tmp:rw,mode=1777",
                          "--shm-size", "512m", "-v", f"{out}:/out", image,
                          "run", "/out/page.html", "--screenshot", "/out/shot.png", check=False, timeout=180)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        shot = (out / "shot.png").read_bytes()
        assert shot.startswith(PNG) and png_size(shot) == (1280, 720) and len(shot) > 2000, len(shot)


async def test_serve_registers_runs_an_app_and_drains_on_sigterm(engine: Engine, image: str) -> None:
    name = f"bw-test-{uuid.uuid4().hex[:8]}"
    metrics_port = free_port()
    client = None
    async with LocalHyphaServer() as server:
        token = await server.user_token("alice")
        try:
            started = time.monotonic()
            serve_container(engine, name, server.url, token, network="host", env={
                "BROWSER_WORKER_DRAIN_TIMEOUT": f"{DRAIN:g}", "BROWSER_WORKER_METRICS_HOST": "127.0.0.1",
                "BROWSER_WORKER_METRICS_PORT": str(metrics_port)})
            client = await connect_to_server({"server_url": server.url, "token": token})
            apps = await client.get_service("public/server-apps")
            worker_id = await registered(engine, name, apps, timeout=180)
            FIGURES["container start -> worker registered"] = f"{time.monotonic() - started:.1f} s"

            # Non-root, on a read-only root filesystem; the worker serves on regardless.
            assert engine.run("exec", name, "id", "-u").stdout.strip() not in ("", "0")
            write = engine.run("exec", name, "sh", "-c", "echo x > /probe", check=False)
            assert write.returncode != 0 and "read-only" in write.stderr.lower(), write
            await healthy(engine, name, metrics_port)

            session, seconds = await start_and_call(client, apps)
            FIGURES["first app start through the server"] = f"{seconds:.2f} s"
            worker = await client.get_service(worker_id)
            shot = await worker.take_screenshot(session)
            assert shot.startswith(PNG) and png_size(shot) == (1280, 720), shot[:16]
            assert session in [s["id"] for s in await apps.list_running()]

            # SIGTERM: drained, unregistered and exited 0 within the drain timeout.
            t0 = time.monotonic()
            engine.run("kill", "--signal", "TERM", name)
            waited = await asyncio.to_thread(engine.run, "wait", name, timeout=DRAIN + 60, check=False)
            took = time.monotonic() - t0
            FIGURES["SIGTERM -> exit"] = f"{took:.1f} s, code {waited.stdout.strip()}"
            logs = engine.logs(name)
            assert waited.stdout.strip() == "0", logs
            assert took <= DRAIN + 5, f"exited {took:.1f}s after SIGTERM (drain timeout {DRAIN:g}s)\n{logs}"
            assert "Service unregistered." in logs, logs
            assert worker_id not in [w["id"] for w in await apps.list_workers()]
            assert session not in [s["id"] for s in await apps.list_running()]
        finally:
            if client is not None:
                await client.disconnect()
            remove(engine, name)


async def test_a_worker_on_another_network_reaches_the_server_by_its_public_url(engine: Engine, image: str) -> None:
    """One Hypha server, the worker on "another host": a container with a network of its own
    (slirp4netns), where the server's local URL (``http://127.0.0.1:<port>``, which its controller
    hands pages) is the container itself. The worker reaches the server, still bound to the
    machine's loopback only, by slirp4netns' address for it (10.0.2.2), and its pages fall back to
    that URL."""
    if engine.name != "podman":
        pytest.skip("a network of its own that reaches the machine's loopback is slirp4netns', podman's")
    name = f"bw-test-{uuid.uuid4().hex[:8]}"
    client = None
    async with LocalHyphaServer() as server:
        public_url = f"http://10.0.2.2:{server.port}"
        token = await server.user_token("alice")
        try:
            try:
                serve_container(engine, name, public_url, token, network="slirp4netns:allow_host_loopback=true")
            except AssertionError as exc:  # the other tests show the image itself runs
                pytest.skip(f"{engine.name} cannot give a container a network of its own here: {exc}")
            client = await connect_to_server({"server_url": server.url, "token": token})
            apps = await client.get_service("public/server-apps")
            await registered(engine, name, apps, timeout=180)
            _, seconds = await start_and_call(client, apps)
            FIGURES["app start, worker on its own network"] = f"{seconds:.2f} s"
            logs = engine.logs(name)
            assert "is not usable from this worker" in logs and public_url in logs, logs
        finally:
            if client is not None:
                await client.disconnect()
            remove(engine, name)


def serve_container(engine: Engine, name: str, server_url: str, token: str, *, network: str | None,
                    env: dict[str, str] | None = None) -> None:
    """`browser-worker serve` in a detached container, as an operator runs it: read-only root
    filesystem, /tmp on tmpfs, the cache on a named volume, the token in the environment
    (never on a command line). ``network``: the engine's ``--network`` (None: its default)."""
    settings = {"HYPHA_SERVER_URL": server_url, "BROWSER_WORKER_SERVICE_ID": SERVICE_ID,
                "BROWSER_WORKER_POOL_SIZE": "1", "BROWSER_WORKER_PYTHON_POOL_SIZE": "0", **(env or {})}
    args = ["run", "-d", "--name", name, *(["--network", network] if network else []),
            "--read-only", "--tmpfs", "/tmp:rw,mode=1777", "-v", f"{name}-cache:/home/worker/.cache",
            "--shm-size", "1g", "-e", "HYPHA_TOKEN"]
    for key, value in settings.items():
        args += ["-e", f"{key}={value}"]
    engine.run(*args, IMAGE, env={**engine.env, "HYPHA_TOKEN": token})


def remove(engine: Engine, name: str) -> None:
    """The container and its cache volume, whatever state they are in."""
    engine.run("rm", "-f", name, check=False)
    engine.run("volume", "rm", "-f", f"{name}-cache", check=False)


async def start_and_call(client: Any, apps: Any) -> tuple[str, float]:
    """Install the probe app, start it through the server and call its service: the session id
    and the seconds `start` took (until the app's service was registered)."""
    app = await apps.install(source=APP, overwrite=True, timeout=60)
    t0 = time.monotonic()
    session = await apps.start(app["id"], wait_for_service="default", timeout=120)
    seconds = time.monotonic() - t0
    svc = await client.get_service(session["id"] + ":default", {"timeout": 10})
    assert await svc.echo(7) == 7
    return session["id"], seconds


async def registered(engine: Engine, name: str, apps: Any, timeout: float) -> str:
    """The container's worker service id, once the server lists it; fails at once with the
    container's logs if it stops first."""
    deadline = time.monotonic() + timeout
    while True:
        ours = [w["id"] for w in await apps.list_workers() if w["id"].endswith(":" + SERVICE_ID)]
        if ours:
            return ours[0]
        state = engine.run("inspect", "--format", "{{.State.Running}}", name, check=False).stdout.strip()
        assert state == "true", f"the container stopped before registering:\n{engine.logs(name)}"
        assert time.monotonic() < deadline, f"not registered in {timeout:.0f}s:\n{engine.logs(name)}"
        await asyncio.sleep(0.1)


async def healthy(engine: Engine, name: str, port: int) -> None:
    """/health answers ok from outside, and the image's own HEALTHCHECK command passes inside."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/health") as response:
            body = await response.json()
            assert response.status == 200 and body["browser_up"] is True, body
    check = (image_config(engine).get("Healthcheck") or {}).get("Test") or []
    assert check[:1] == ["CMD"], f"the image has no exec-form HEALTHCHECK: {check}"
    proc = engine.run("exec", name, *check[1:], check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
