"""A real Hypha server (plus an S3 emulator) on loopback, for the embedded default and tests.

Needs the optional ``server`` extra (``hypha``, ``moto``). The server runs as a child process
with its own browser worker switched off, so the worker that registers on it is ours.

Several of them form one deployment as Hypha scales out: ``local_cluster.py``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp


def free_port() -> int:
    """Ask the OS for a free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LocalHyphaServer:
    """Start/stop a local Hypha server with server apps on and S3 emulated by moto.

    Use as ``async with LocalHyphaServer() as server:``; ``server.url`` is the base URL and
    ``await server.user_token("alice")`` mints a token for workspace ``ws-user-alice``.
    """

    host: str = "127.0.0.1"
    port: int = 0
    s3_port: int = 0
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    log_dir: Path | None = None
    ready_timeout: float = 90.0
    extra_env: dict[str, str] = field(default_factory=dict)
    #: More ``python -m hypha.server`` arguments, e.g. ``--startup-functions=…``.
    extra_args: list[str] = field(default_factory=list)
    #: A real Redis (``redis://127.0.0.1:6379/0``) shared with other servers; None: Hypha's
    #: in-process fakeredis (one server only).
    redis_uri: str | None = None
    #: ``--server-id``; needed to tell servers on one Redis apart (None: Hypha picks one).
    server_id: str | None = None
    #: ``--database-uri`` (e.g. ``sqlite+aiosqlite:////tmp/x.db``) shared with other servers;
    #: None: Hypha's own temporary SQLite file.
    database_uri: str | None = None
    #: An S3 endpoint already running (another server's ``s3_url``); None: start moto here.
    s3_endpoint: str | None = None
    #: ``--reset-redis``. Hypha skips the flush by itself when other servers are registered.
    reset_redis: bool = True
    #: ``--public-base-url``: the one URL of a deployment of several servers (None: ``url``).
    public_base_url: str | None = None

    _procs: list[asyncio.subprocess.Process] = field(default_factory=list, init=False)
    _hypha: asyncio.subprocess.Process | None = field(default=None, init=False)
    _hypha_run: tuple[list[str], Path, dict[str, str]] = field(default=([], Path(), {}), init=False)
    _workdir: Path | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def s3_url(self) -> str:
        """The S3 endpoint this server uses (its own moto, or ``s3_endpoint``)."""
        return self.s3_endpoint or f"http://{self.host}:{self.s3_port}"

    @property
    def pid(self) -> int | None:
        """The Hypha server process's PID (None before start)."""
        return self._hypha.pid if self._hypha else None

    async def __aenter__(self) -> "LocalHyphaServer":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Launch moto and the Hypha server; return once the server answers readiness."""
        self.port = self.port or free_port()
        if not self.s3_endpoint:
            self.s3_port = self.s3_port or free_port()
        self._workdir = Path(tempfile.mkdtemp(prefix="bw-hypha-"))
        log_dir = self.log_dir or self._workdir
        log_dir.mkdir(parents=True, exist_ok=True)
        name = f"hypha-{self.server_id}" if self.server_id else "hypha"
        try:
            if not self.s3_endpoint:
                await self._spawn(
                    "moto",
                    [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.s3_port)],
                    log_dir / "moto.log",
                    env={},
                )
            env = {
                "AWS_DEFAULT_REGION": "us-east-1",
                "HYPHA_JWT_SECRET": self.jwt_secret,
                "JWT_SECRET": self.jwt_secret,
                "HYPHA_DISABLE_INPROCESS_BROWSER_WORKER": "true",
                **self.extra_env,
            }
            self._hypha_run = (
                [
                    sys.executable, "-m", "hypha.server",
                    f"--host={self.host}", f"--port={self.port}",
                    "--enable-server-apps", "--enable-s3",
                    f"--endpoint-url={self.s3_url}",
                    "--access-key-id=testing", "--secret-access-key=testing",
                    "--region-name=us-east-1", "--s3-admin-type=generic",
                    "--workspace-bucket=hypha-workspaces",
                    *(["--reset-redis"] if self.reset_redis else []),
                    *([f"--redis-uri={self.redis_uri}"] if self.redis_uri else []),
                    *([f"--server-id={self.server_id}"] if self.server_id else []),
                    *([f"--database-uri={self.database_uri}"] if self.database_uri else []),
                    *([f"--public-base-url={self.public_base_url}"] if self.public_base_url else []),
                    f"--cache-dir={self._workdir / 'cache'}",
                    *self.extra_args,
                ],
                log_dir / f"{name}.log",
                env,
            )
            await self._spawn_hypha()
        except BaseException:
            await self.stop()
            raise

    async def _spawn_hypha(self) -> None:
        argv, log_path, env = self._hypha_run
        self._hypha = await self._spawn("hypha", argv, log_path, env=env)
        await self._wait_ready(log_path)

    async def kill_and_restart(self, down: float = 0.0) -> float:
        """SIGKILL the Hypha process (not S3) and, ``down`` seconds later, start it again on the
        same port, with the same Redis and database when it has them; the ``time.monotonic()``
        at which it is ready."""
        assert self._hypha is not None, "not started"
        self._hypha.kill()
        await self._hypha.wait()
        self._procs.remove(self._hypha)
        await asyncio.sleep(down)
        await self._spawn_hypha()
        return time.monotonic()

    async def _spawn(self, name: str, argv: list[str], log_path: Path,
                     env: dict[str, str]) -> asyncio.subprocess.Process:
        log = open(log_path, "ab")
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            stdin=asyncio.subprocess.DEVNULL,
            cwd=self._workdir,
            env={**os.environ, **env},
        )
        log.close()
        self._procs.append(proc)
        return proc

    async def _wait_ready(self, log_path: Path) -> None:
        deadline = time.monotonic() + self.ready_timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                for proc in self._procs:
                    if proc.returncode is not None:
                        tail = log_path.read_text(errors="replace")[-3000:]
                        raise RuntimeError(f"local Hypha server exited early:\n{tail}")
                try:
                    async with http.get(f"{self.url}/health/readiness") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.25)
        raise TimeoutError(f"local Hypha server not ready after {self.ready_timeout:.0f}s")

    async def stop(self) -> None:
        """Terminate both processes (by PID) and remove the scratch directory."""
        for proc in reversed(self._procs):
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 10)
                except asyncio.TimeoutError:
                    proc.kill()
                    await proc.wait()
        self._procs.clear()
        self._hypha = None
        if self._workdir and not self.log_dir:
            shutil.rmtree(self._workdir, ignore_errors=True)

    async def user_token(self, user_id: str, expires_in: int = 24 * 3600) -> str:
        """Mint a token for ``user_id`` with admin rights on workspace ``ws-user-<user_id>``."""
        os.environ.setdefault("HYPHA_JWT_SECRET", self.jwt_secret)
        from hypha.core import UserInfo, UserPermission
        from hypha.core import auth

        auth.set_jwt_secret(self.jwt_secret)
        user = UserInfo(
            id=user_id,
            is_anonymous=False,
            email=f"{user_id}@example.org",
            roles=[],
            scope=auth.create_scope(workspaces={f"ws-user-{user_id}": UserPermission.admin}),
        )
        return await auth.generate_auth_token(user, expires_in)
