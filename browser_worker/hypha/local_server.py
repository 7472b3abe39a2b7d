"""A real Hypha server (plus an S3 emulator) on loopback, for the embedded default and tests.

Needs the optional ``server`` extra (``hypha``, ``moto``). The server runs as a child process
with its own browser worker switched off, so the worker that registers on it is ours.
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

    _procs: list[asyncio.subprocess.Process] = field(default_factory=list, init=False)
    _workdir: Path | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def __aenter__(self) -> "LocalHyphaServer":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Launch moto and the Hypha server; return once the server answers readiness."""
        self.port = self.port or free_port()
        self.s3_port = self.s3_port or free_port()
        self._workdir = Path(tempfile.mkdtemp(prefix="bw-hypha-"))
        log_dir = self.log_dir or self._workdir
        log_dir.mkdir(parents=True, exist_ok=True)
        try:
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
            await self._spawn(
                "hypha",
                [
                    sys.executable, "-m", "hypha.server",
                    f"--host={self.host}", f"--port={self.port}",
                    "--enable-server-apps", "--enable-s3",
                    f"--endpoint-url=http://{self.host}:{self.s3_port}",
                    "--access-key-id=testing", "--secret-access-key=testing",
                    "--region-name=us-east-1", "--s3-admin-type=generic",
                    "--workspace-bucket=hypha-workspaces", "--reset-redis",
                    f"--cache-dir={self._workdir / 'cache'}",
                    *self.extra_args,
                ],
                log_dir / "hypha.log",
                env=env,
            )
            await self._wait_ready(log_dir / "hypha.log")
        except BaseException:
            await self.stop()
            raise

    async def _spawn(self, name: str, argv: list[str], log_path: Path, env: dict[str, str]) -> None:
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
