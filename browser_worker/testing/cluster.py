"""Several local Hypha servers as one deployment, the way Hypha scales out.

One real ``redis-server`` (Debian's package), one SQLite file, one S3 bucket (the first
server's moto), one JWT secret, and optionally one URL in front (a TCP balancer, round-robin
or sticky by source address, as a load balancer would be). For tests and benchmarks of the
worker in that topology; needs the ``server`` extra and ``redis-server`` on PATH
(``scripts/setup.sh`` installs it).
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from browser_worker.testing.hypha_server import LocalHyphaServer, free_port


@dataclass
class LocalRedisServer:
    """A real ``redis-server`` (Debian's package) on loopback, nothing persisted; stopped by PID."""

    host: str = "127.0.0.1"
    port: int = 0
    ready_timeout: float = 15.0

    _proc: asyncio.subprocess.Process | None = field(default=None, init=False)
    _workdir: Path | None = field(default=None, init=False)

    @property
    def uri(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    async def __aenter__(self) -> "LocalRedisServer":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found: apt-get install -y redis-server (scripts/setup.sh does)")
        self.port = self.port or free_port()
        self._workdir = Path(tempfile.mkdtemp(prefix="bw-redis-"))
        self._proc = await asyncio.create_subprocess_exec(
            binary, "--bind", self.host, "--port", str(self.port), "--save", "", "--appendonly", "no",
            "--dir", str(self._workdir), "--daemonize", "no",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            stdin=asyncio.subprocess.DEVNULL,
        )
        deadline = time.monotonic() + self.ready_timeout
        while not await self._pong():
            if self._proc.returncode is not None or time.monotonic() > deadline:
                await self.stop()
                raise RuntimeError(f"redis-server did not start on {self.host}:{self.port}")
            await asyncio.sleep(0.05)

    async def _pong(self) -> bool:
        try:
            reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            return False
        try:
            writer.write(b"PING\r\n")
            await writer.drain()
            return (await asyncio.wait_for(reader.readline(), 2)).startswith(b"+PONG")
        except (OSError, asyncio.TimeoutError):
            return False
        finally:
            writer.close()

    async def stop(self) -> None:
        if self._proc and self._proc.returncode is None:
            self._proc.terminate()
            try:
                await asyncio.wait_for(self._proc.wait(), 10)
            except asyncio.TimeoutError:
                self._proc.kill()
                await self._proc.wait()
        self._proc = None
        if self._workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)


#: How the balancer picks a backend for a new connection.
BALANCER_MODES = ("round-robin", "source-hash")


class TcpBalancer:
    """A TCP load balancer: each new connection goes to a live backend port on
    ``backend_host``. ``round-robin``: the next one in turn; ``source-hash``: the one the
    client's source address hashes to (sticky, like nginx ``hash $remote_addr`` or HAProxy
    ``balance source``), the next live one if that one is down. It listens on ``host`` (e.g.
    the address another network namespace reaches this host at). ``landed`` counts the
    connections each backend port got."""

    def __init__(self, backends: list[int], host: str = "127.0.0.1", port: int = 0, *,
                 mode: str = "round-robin", backend_host: str = "127.0.0.1") -> None:
        if mode not in BALANCER_MODES:
            raise ValueError(f"balancer mode {mode!r} is not one of {BALANCER_MODES}")
        self.backends, self.host, self.mode, self.backend_host = backends, host, mode, backend_host
        self.port = port or free_port()
        self.landed: Counter[int] = Counter()
        self._next = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)

    async def stop(self) -> None:
        if self._server:
            self._server.close()
            self._server = None

    def choices(self, peer: object, mode: str | None = None) -> list[int]:
        """The backends to try for a client at ``peer``, the chosen one first (``mode``: this
        balancer's, or another's to ask without choosing)."""
        n = len(self.backends)
        if (mode or self.mode) == "source-hash":
            address = peer[0] if isinstance(peer, tuple) and peer else str(peer)
            first = zlib.crc32(str(address).encode()) % n
        else:
            first, self._next = self._next % n, self._next + 1
        return [self.backends[(first + k) % n] for k in range(n)]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for port in self.choices(writer.get_extra_info("peername")):
            try:
                up_reader, up_writer = await asyncio.open_connection(self.backend_host, port)
                break
            except OSError:
                continue
        else:
            writer.close()
            return
        self.landed[port] += 1
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


@dataclass
class LocalHyphaCluster:
    """N Hypha server processes as one deployment: one Redis, one SQLite file, one S3 (moto,
    started by the first server), one JWT secret, server ids ``a``, ``b``, … With
    ``load_balancer`` (default) they also share one ``--public-base-url``, a TCP balancer in
    front of them (``url``; ``balancer``: ``round-robin`` or ``source-hash``), as behind a
    production load balancer. ``proxy_host``: the address the balancer listens on (the host
    side of a :class:`~browser_worker.testing.netns.WorkerHost`, for workers on "other hosts");
    ``extra_args``: more ``hypha.server`` arguments for every replica (``--enable-s3-proxy``
    lets a worker that reaches only the balancer read app files).

    ``async with LocalHyphaCluster(2) as cluster:`` then ``cluster.url``,
    ``cluster.servers[i].url`` and ``await cluster.user_token("alice")`` (valid on every server).
    """

    size: int = 2
    load_balancer: bool = True
    log_dir: Path | None = None
    jwt_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    extra_env: dict[str, str] = field(default_factory=dict)
    balancer: str = "round-robin"
    proxy_host: str = "127.0.0.1"
    extra_args: list[str] = field(default_factory=list)

    redis: LocalRedisServer = field(default_factory=LocalRedisServer, init=False)
    servers: list[LocalHyphaServer] = field(default_factory=list, init=False)
    proxy: TcpBalancer | None = field(default=None, init=False)
    _workdir: Path | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        """The deployment's one URL (the proxy), or the first server's without a proxy."""
        return self.proxy.url if self.proxy else self.servers[0].url

    async def __aenter__(self) -> "LocalHyphaCluster":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self._workdir = Path(tempfile.mkdtemp(prefix="bw-cluster-"))
        ports = [free_port() for _ in range(self.size)]
        try:
            if self.load_balancer:
                self.proxy = TcpBalancer(ports, self.proxy_host, mode=self.balancer)
                await self.proxy.start()
            await self.redis.start()
            database_uri = f"sqlite+aiosqlite:///{self._workdir / 'hypha.db'}"
            for i, port in enumerate(ports):
                server = LocalHyphaServer(
                    port=port, jwt_secret=self.jwt_secret, redis_uri=self.redis.uri,
                    server_id=chr(ord("a") + i), database_uri=database_uri, log_dir=self.log_dir,
                    extra_env=dict(self.extra_env), public_base_url=self.proxy.url if self.proxy else None,
                    s3_endpoint=self.servers[0].s3_url if self.servers else None,
                    extra_args=list(self.extra_args),
                )
                self.servers.append(server)
                await server.start()  # one at a time: the first creates the tables and the bucket
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        for server in reversed(self.servers):  # the first one last: it runs the shared moto
            await server.stop()
        self.servers.clear()
        await self.redis.stop()
        if self.proxy:
            await self.proxy.stop()
        if self._workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)

    async def user_token(self, user_id: str, expires_in: int = 24 * 3600) -> str:
        return await self.servers[0].user_token(user_id, expires_in)
