"""Several Hypha replicas behind one balancer, and a browser worker on another host (issue 29).

The topology operators reach for when one Hypha server is not enough: two replicas (server ids
``a`` and ``b``) on one real ``redis-server``, one database and one S3, sharing one public URL —
a :class:`~browser_worker.testing.cluster.TcpBalancer` (round-robin or sticky by source
address) — and one ``browser-worker serve`` in a network namespace of its own
(:class:`~browser_worker.testing.netns.WorkerHost`), which reaches the deployment only through
that URL: the replicas' ``127.0.0.1`` ports, which their controllers hand to workers, lead
nowhere from there.

Starts go through the *asking* replica's own controller (``public/<server-id>:server-apps``,
called by a client connected to that replica), as many through each; each start then calls the
app and stops it. Used by ``tests/test_replicas.py`` and
``benchmarks/replicas.py``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypha_rpc import connect_to_server

from browser_worker.testing.cluster import LocalHyphaCluster
from browser_worker.testing.netns import WorkerHost, stop_group

#: A window app whose ``where()`` names the replica its page is connected to.
APP = """<config lang="json">{"name": "Replicas", "type": "window", "version": "0.1.0"}</config>
<script lang="javascript">
await api.export({ setup() {}, where() { return api.config.manager_id; } });
</script>
"""
#: The same for the other page kinds that connect to Hypha.
APPS = {
    "window": APP,
    "web-worker": """<config lang="json">{"name": "Replicas worker", "type": "web-worker", "version": "0.1.0"}</config>
<script lang="javascript">
await api.export({ setup() {}, where() { return api.config.manager_id; } });
</script>
""",
    "web-python": """<config lang="json">{"name": "Replicas python", "type": "web-python", "version": "0.1.0"}</config>
<script lang="python">
from hypha_rpc import api

api.export({"setup": lambda: None, "where": lambda: api.config["manager_id"]})
</script>
""",
}
WORKSPACE_USER = "erin"


@dataclass
class StartResult:
    via: str  #: the asking replica's server id
    ok: bool
    seconds: float
    landed: str = ""  #: the server id of the replica the page connected to
    error: str = ""
    session: str = ""  #: ``<workspace>/<client id>`` of the app's page


def summary(results: list[StartResult]) -> dict[str, Any]:
    """Counts of a run: succeeded/attempted, per asking replica, and how many pages landed on a
    replica other than the one that asked."""
    ok = [r for r in results if r.ok]
    return {
        "succeeded": len(ok), "attempted": len(results),
        "per_replica": dict(Counter(r.via for r in ok)),
        "landed_elsewhere": sum(1 for r in ok if r.landed != r.via),
        "p50_s": round(sorted(r.seconds for r in ok)[len(ok) // 2], 2) if ok else None,
        "errors": [f"via {r.via} after {r.seconds:.1f}s: {r.error}" for r in results if not r.ok],
    }


@dataclass
class RemoteWorkerDeployment:
    """``async with RemoteWorkerDeployment(log_dir=…) as dep:`` then ``await dep.install()``,
    ``await dep.run(32)``, ``dep.use_balancer("source-hash")``, ``await dep.restart_worker()``.
    Raises :class:`~browser_worker.testing.netns.NetnsUnavailable` when namespaces cannot be made.
    """

    log_dir: Path | None = None
    balancer: str = "round-robin"
    start_timeout: float = 20.0
    worker_env: dict[str, str] = field(default_factory=dict)
    #: More environment for the Hypha replicas (``HYPHA_LOGLEVEL=INFO`` logs each registration).
    server_env: dict[str, str] = field(default_factory=dict)
    #: More ``hypha.server`` arguments: the S3 proxy by default, as the worker host cannot reach
    #: S3 (moto on this host's ``127.0.0.1``) to read app files after a restart emptied its cache.
    server_args: list[str] = field(default_factory=lambda: ["--enable-s3-proxy"])

    host: WorkerHost = field(default_factory=WorkerHost, init=False)
    cluster: LocalHyphaCluster | None = field(default=None, init=False)
    worker: asyncio.subprocess.Process | None = field(default=None, init=False)
    token: str = field(default="", init=False)
    clients: list[Any] = field(default_factory=list, init=False)
    controllers: list[Any] = field(default_factory=list, init=False)
    app_id: str = field(default="", init=False)
    app_ids: dict[str, str] = field(default_factory=dict, init=False)
    worker_starts: int = field(default=0, init=False)

    @property
    def ids(self) -> list[str]:
        return [s.server_id or "" for s in self.cluster.servers] if self.cluster else []

    @property
    def public_url(self) -> str:
        assert self.cluster and self.cluster.proxy
        return self.cluster.proxy.url

    async def __aenter__(self) -> "RemoteWorkerDeployment":
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        await self.host.create()
        self.cluster = LocalHyphaCluster(2, balancer=self.balancer, proxy_host=self.host.host_address,
                                         log_dir=self.log_dir, extra_args=list(self.server_args),
                                         extra_env=dict(self.server_env))
        await self.cluster.start()
        self.token = await self.cluster.user_token(WORKSPACE_USER)
        for server in self.cluster.servers:
            client = await connect_to_server({"server_url": server.url, "token": self.token})
            self.clients.append(client)
            self.controllers.append(await client.get_service(f"public/{server.server_id}:server-apps"))
        await self.start_worker()

    def unreachable_replicas(self) -> list[str]:
        """The replicas' local URLs the worker host cannot connect to (all of them, here)."""
        assert self.cluster
        return [s.url for s in self.cluster.servers if not self.host.can_connect(s.host, s.port)]

    def sticky_replica(self) -> int:
        """The index of the replica a source-hash balancer sends the worker host's connections to."""
        assert self.cluster and self.cluster.proxy
        port = self.cluster.proxy.choices((self.host.address, 0), "source-hash")[0]
        return [s.port for s in self.cluster.servers].index(port)

    def server_log(self, index: int) -> str:
        """What replica ``index`` has logged so far (needs ``log_dir``)."""
        assert self.log_dir and self.cluster
        return (self.log_dir / f"hypha-{self.ids[index]}.log").read_text(errors="replace")

    def use_balancer(self, mode: str) -> None:
        """Switch the balancer's mode for the connections made from now on."""
        assert self.cluster and self.cluster.proxy
        self.cluster.proxy.mode = mode

    async def start_worker(self) -> None:
        self.worker_starts += 1
        log = self.log_dir / f"worker-{self.worker_starts}.log" if self.log_dir else None
        self.worker = await self.host.serve_worker(self.public_url, self.token, "bw-remote",
                                                   env=self.worker_env, log_path=log)
        await self.wait_listed(1)

    async def restart_worker(self) -> float:
        """SIGKILL the worker (and its Chromium), start it again in the namespace; the seconds
        until both controllers listed it again."""
        assert self.worker is not None
        stop_group(self.worker)
        await self.worker.wait()
        await self.wait_listed(0)
        t0 = time.monotonic()
        await self.start_worker()
        return time.monotonic() - t0

    async def listed(self) -> list[list[str]]:
        prefix = f"ws-user-{WORKSPACE_USER}/"
        return [sorted(w["id"] for w in await c.list_workers() if w["id"].startswith(prefix))
                for c in self.controllers]

    async def wait_listed(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while any(len(ids) != count for ids in await self.listed()):
            if time.monotonic() > deadline:
                raise AssertionError(f"controllers list {await self.listed()}, not {count} worker(s)")
            await asyncio.sleep(0.1)

    async def install(self, source: str = APP, attempts: int = 6, timeout: float | None = None) -> list[str]:
        """Install an app (its check start through each replica in turn until one works); the
        errors of the attempts that failed. The window app's id becomes ``app_id``; every
        installed app's id is in ``app_ids`` under its source."""
        errors: list[str] = []
        for k in range(attempts):
            try:
                app = await self.controllers[k % len(self.controllers)].install(
                    source=source, overwrite=True, timeout=timeout or self.start_timeout)
            except Exception as exc:
                errors.append(short(exc))
                continue
            self.app_ids[source] = app["id"]
            if source == APP:
                self.app_id = app["id"]
            return errors
        raise AssertionError(f"install failed {attempts} times: {errors}")

    async def start_once(self, via: int, app_id: str | None = None, timeout: float | None = None) -> StartResult:
        """Start (the window app by default) through replica ``via``'s controller, ask the page
        where it is, stop it."""
        t0 = time.monotonic()
        controller, client = self.controllers[via], self.clients[via]
        try:
            session = await controller.start(app_id or self.app_id, wait_for_service="default",
                                             timeout=timeout or self.start_timeout)
        except Exception as exc:
            return StartResult(self.ids[via], False, time.monotonic() - t0, error=short(exc))
        try:
            svc = await client.get_service(session["service_id"])
            landed = str(await svc.where()).removeprefix("manager-")
            return StartResult(self.ids[via], True, time.monotonic() - t0, landed=landed, session=session["id"])
        except Exception as exc:
            return StartResult(self.ids[via], False, time.monotonic() - t0, error=f"after the start: {short(exc)}")
        finally:
            await controller.stop(session["id"])

    async def run(self, count: int, max_failures: int | None = None, seed: int = 29) -> list[StartResult]:
        """``count`` starts, as many through each replica, in a fixed shuffled order (strict
        alternation can fall in step with a round-robin balancer, every page then landing on
        the asking replica, or none); stop early after ``max_failures``."""
        order = [k % len(self.controllers) for k in range(count)]
        random.Random(seed).shuffle(order)
        results: list[StartResult] = []
        for via in order:
            results.append(await self.start_once(via))
            if max_failures is not None and sum(not r.ok for r in results) >= max_failures:
                break
        return results

    async def close(self) -> None:
        """Everything back: clients, worker, cluster, namespace (each step even if one fails)."""
        for client in self.clients:
            try:
                await asyncio.wait_for(client.disconnect(), 10)
            except Exception:
                pass
        self.clients.clear()
        self.controllers.clear()
        try:
            if self.worker is not None and self.worker.returncode is None:
                stop_group(self.worker)
                await self.worker.wait()
        finally:
            try:
                if self.cluster is not None:
                    await self.cluster.stop()
            finally:
                await self.host.remove()


def short(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Failed to start app", "Failed to install app"):
        if marker in text:
            text = text[text.index(marker):]
    return " ".join(text.split())[:400]
