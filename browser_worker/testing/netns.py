"""A worker host of its own, made on this machine: a Linux network namespace joined to this one
by a veth pair, for tests and benchmarks of workers that reach a Hypha deployment only through
its public URL (issue 29).

Inside the namespace, ``127.0.0.1`` is the namespace's own loopback: the Hypha replicas' local
URLs (``http://127.0.0.1:<port>``, which their controllers hand to workers) lead nowhere, as
they would from another machine. The namespace reaches this host at one address,
:attr:`WorkerHost.host_address`; a balancer listening there is the deployment's one URL.

Needs root (or CAP_SYS_ADMIN and CAP_NET_ADMIN) and ``ip`` (iproute2). :meth:`WorkerHost.create`
raises :class:`NetnsUnavailable` with the reason when namespaces cannot be made here (tests skip
with it). Everything made is removed by :meth:`WorkerHost.remove` — the processes started in the
namespace (by their PIDs), the namespace and its veth pair — also when the interpreter exits
without having called it.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


class NetnsUnavailable(RuntimeError):
    """Network namespaces cannot be made on this machine (the message says why)."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


def _used_subnets() -> set[str]:
    """The first three octets of every IPv4 address already on this host."""
    out = _ip("-o", "-4", "addr", "show", check=False).stdout
    used = set()
    for line in out.splitlines():
        parts = line.split()
        if "inet" in parts:
            used.add(parts[parts.index("inet") + 1].rsplit(".", 1)[0])
    return used


@dataclass(eq=False)
class WorkerHost:
    """One network namespace ``bw-host-<random>`` with a veth pair: ``host_address`` on this
    side, ``address`` inside. ``async with WorkerHost() as host:`` then
    ``host.command([...])`` (an argv that runs in the namespace) and ``host.url(port)`` (a port
    of this host as the namespace reaches it)."""

    name: str = field(default_factory=lambda: f"bw-host-{secrets.token_hex(3)}")
    #: ``10.<a>.<b>``: the /30 the pair lives in (None: a free one is picked).
    subnet: str | None = None

    _made: bool = field(default=False, init=False)
    _veth_host: str = field(default="", init=False)

    @property
    def host_address(self) -> str:
        """This host's address on the pair: what the namespace connects to."""
        return f"{self.subnet}.1"

    @property
    def address(self) -> str:
        """The namespace's address on the pair (connections from it come from here)."""
        return f"{self.subnet}.2"

    def url(self, port: int) -> str:
        return f"http://{self.host_address}:{port}"

    async def __aenter__(self) -> "WorkerHost":
        await self.create()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.remove()

    async def create(self) -> None:
        """Make the namespace, its loopback and the veth pair; raise NetnsUnavailable if the
        machine does not let us (not root, no iproute2, a kernel without namespaces)."""
        if shutil.which("ip") is None:
            raise NetnsUnavailable("`ip` (iproute2) is not installed")
        if self.subnet is None:
            used = _used_subnets()
            self.subnet = next((f"10.{a}.{b}" for a in range(213, 224) for b in range(256)
                                if f"10.{a}.{b}" not in used), None)
            if self.subnet is None:
                raise NetnsUnavailable("no free 10.213-223.x.0/30 subnet for the veth pair")
        tag = self.name.rsplit("-", 1)[-1]
        self._veth_host, veth_ns = f"bwh{tag}", f"bwn{tag}"
        made = _ip("netns", "add", self.name, check=False)
        if made.returncode != 0:
            raise NetnsUnavailable(f"`ip netns add` is not permitted here: {made.stderr.strip() or made.returncode}")
        self._made = True
        _live.add(self)
        try:
            _ip("link", "add", self._veth_host, "type", "veth", "peer", "name", veth_ns)
            _ip("link", "set", veth_ns, "netns", self.name)
            _ip("addr", "add", f"{self.host_address}/30", "dev", self._veth_host)
            _ip("link", "set", self._veth_host, "up")
            for args in (("addr", "add", f"{self.address}/30", "dev", veth_ns),
                         ("link", "set", veth_ns, "up"), ("link", "set", "lo", "up")):
                _ip("netns", "exec", self.name, "ip", *args)
        except subprocess.CalledProcessError as exc:
            await self.remove()
            raise NetnsUnavailable(f"setting up {self.name} failed: {' '.join(exc.cmd)}: "
                                   f"{(exc.stderr or '').strip()}") from None

    def command(self, argv: list[str]) -> list[str]:
        """``argv`` run inside the namespace (the process keeps our files and environment)."""
        return ["ip", "netns", "exec", self.name, *argv]

    def pids(self) -> list[int]:
        """Processes running in the namespace (all started by us: nothing else enters it)."""
        if not self._made:
            return []
        out = _ip("netns", "pids", self.name, check=False).stdout
        return [int(p) for p in out.split() if p.isdigit()]

    def can_connect(self, host: str, port: int, timeout: float = 2.0) -> bool:
        """Whether a TCP connection from inside the namespace to ``host:port`` is accepted."""
        probe = ("import socket,sys\ns=socket.socket();s.settimeout(float(sys.argv[3]))\n"
                 "sys.exit(0 if s.connect_ex((sys.argv[1],int(sys.argv[2])))==0 else 1)")
        run = subprocess.run(self.command([sys.executable, "-c", probe, host, str(port), str(timeout)]),
                             capture_output=True, timeout=timeout + 30)
        return run.returncode == 0

    async def serve_worker(self, server_url: str, token: str, service_id: str, *,
                           env: dict[str, str] | None = None, log_path: Path | None = None,
                           ready_timeout: float = 90.0) -> asyncio.subprocess.Process:
        """``browser-worker serve`` inside the namespace, registered through ``server_url`` (as
        the namespace reaches it), in a process group of its own (so its Chromium goes with it);
        returned once it says it is serving. Its output goes to ``log_path`` (or is dropped)."""
        full_env = {**os.environ, "HYPHA_SERVER_URL": server_url, "HYPHA_TOKEN": token,
                    "BROWSER_WORKER_SERVICE_ID": service_id, "BROWSER_WORKER_POOL_SIZE": "1",
                    "BROWSER_WORKER_PYTHON_POOL_SIZE": "0", "PYTHONUNBUFFERED": "1", **(env or {})}
        proc = await asyncio.create_subprocess_exec(
            *self.command([sys.executable, "-m", "browser_worker", "serve"]),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=full_env,
            stdin=asyncio.subprocess.DEVNULL, start_new_session=True,
        )
        log = open(log_path, "ab") if log_path else None
        seen = b""
        deadline = time.monotonic() + ready_timeout
        try:
            while b"Ctrl-C to stop" not in seen:
                line = await asyncio.wait_for(proc.stdout.readline(),  # type: ignore[union-attr]
                                              max(0.1, deadline - time.monotonic()))
                if not line:
                    raise RuntimeError(f"the worker in {self.name} exited: {seen.decode(errors='replace')[-3000:]}")
                seen += line
                if log:
                    log.write(line)
        except BaseException:
            stop_group(proc)
            await proc.wait()
            if log:
                log.close()
            raise
        task = asyncio.ensure_future(_drain(proc, log))
        _drains.add(task)
        task.add_done_callback(_drains.discard)
        return proc

    async def remove(self) -> None:
        """Kill what runs in the namespace, then delete it and the veth pair (idempotent)."""
        if not self._made:
            return
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while self.pids() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self._remove_now()

    def _remove_now(self) -> None:
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _ip("netns", "del", self.name, check=False)
        if self._veth_host:
            _ip("link", "del", self._veth_host, check=False)  # gone with the namespace, normally
        self._made = False
        _live.discard(self)


def stop_group(proc: asyncio.subprocess.Process, sig: int = signal.SIGKILL) -> None:
    """Signal a process started in a group of its own, and everything it started."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


async def _drain(proc: asyncio.subprocess.Process, log: object) -> None:
    try:
        while line := await proc.stdout.readline():  # type: ignore[union-attr]
            if log is not None:
                log.write(line)  # type: ignore[attr-defined]
                log.flush()  # type: ignore[attr-defined]
    finally:
        if log is not None:
            log.close()  # type: ignore[attr-defined]


_drains: set["asyncio.Future[None]"] = set()
_live: set[WorkerHost] = set()


@atexit.register
def _remove_leftovers() -> None:
    """An interpreter that exits with namespaces still made removes them."""
    for host in list(_live):
        host._remove_now()


def leftover_namespaces() -> list[str]:
    """``bw-host-*`` namespaces on this machine (for tests: none after each)."""
    out = _ip("netns", "list", check=False).stdout if shutil.which("ip") else ""
    return [line.split()[0] for line in out.splitlines() if line.startswith("bw-host-")]
