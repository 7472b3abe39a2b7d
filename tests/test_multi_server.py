"""Issue 20: Hypha scaled out, two server processes on one Redis, one worker on each.

The deployment is `LocalHyphaCluster`: servers ``a`` and ``b`` on one real ``redis-server``,
one SQLite file and one S3 (moto), one ``--public-base-url`` (a round-robin proxy in front, as
in production). Two ``browser-worker serve`` processes in the same workspace connect either
one to each server ("direct") or both through the proxy ("behind-one-url": the instance each
lands on is the balancer's choice). Starts go alternately through each server's own app controller
(``public/<server id>:server-apps``, called by a client connected to that server): Hypha's
controller waits for the app's ``default`` service on its own instance only, so a start works
only if the page connects to the instance that asked, whichever worker runs it.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
import pytest_asyncio
from hypha_rpc import connect_to_server

from browser_worker.testing.cluster import LocalHyphaCluster

from ._support import kill_group, serve_process

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

APP = """<config lang="json">{"name": "Instances", "type": "window", "version": "0.1.0"}</config>
<script lang="javascript">
await api.export({ setup() {}, where() { return location.href; } });
</script>
"""
START_TIMEOUT = 30
#: Stop a run of starts after this many failures (each failure waits START_TIMEOUT).
MAX_FAILURES = 3


class Deployment:
    """Two servers, one worker and one client on each, all in workspace ``ws-user-erin``."""

    def __init__(self, cluster: LocalHyphaCluster) -> None:
        self.cluster = cluster
        self.ids = [s.server_id or "" for s in cluster.servers]
        self.workers: dict[str, asyncio.subprocess.Process] = {}
        self.clients: list[Any] = []
        self.apps: list[Any] = []
        self.app_id = ""

    async def start(self, behind_one_url: bool) -> None:
        """One worker per server: connected to that server directly, or both through the
        deployment's one URL (the load balancer picks the instance)."""
        token = await self.cluster.user_token("erin")
        procs = await asyncio.gather(*(serve_process(self.cluster.url if behind_one_url else s.url, token,
                                                     f"bw-{s.server_id}", own_group=True, keep_reading=True)
                                       for s in self.cluster.servers))
        self.workers = dict(zip(self.ids, procs))
        for server in self.cluster.servers:
            client = await connect_to_server({"server_url": server.url, "token": token})
            self.clients.append(client)
            self.apps.append(await client.get_service(f"public/{server.server_id}:server-apps"))
        await self.wait_workers(2)

    async def listed_workers(self) -> list[list[str]]:
        return [sorted(w["id"] for w in await apps.list_workers() if w["id"].startswith("ws-user-erin/"))
                for apps in self.apps]

    async def wait_workers(self, count: int, timeout: float = 60) -> float:
        """Seconds until every server's controller lists ``count`` workers."""
        t0 = time.monotonic()
        while any(len(ids) != count for ids in await self.listed_workers()):
            assert time.monotonic() - t0 < timeout, await self.listed_workers()
            await asyncio.sleep(0.1)
        return time.monotonic() - t0

    async def install(self, attempts: int = 4) -> list[str]:
        """Install through server a (its verification start may land on either worker); the
        errors of failed attempts."""
        errors: list[str] = []
        for _ in range(attempts):
            try:
                app = await self.apps[0].install(source=APP, overwrite=True, timeout=START_TIMEOUT)
            except Exception as exc:
                errors.append(_short(exc))
                continue
            self.app_id = app["id"]
            return errors
        raise AssertionError(f"install failed {attempts} times: {errors}")

    async def start_once(self, via: int) -> dict[str, Any]:
        """Start through server ``via``, call the app's ``default`` service, stop it."""
        t0 = time.monotonic()
        apps, client = self.apps[via], self.clients[via]
        try:
            session = await apps.start(self.app_id, wait_for_service="default", timeout=START_TIMEOUT)
        except Exception as exc:
            return {"via": self.ids[via], "ok": False, "seconds": time.monotonic() - t0,
                    "error": _short(exc)}
        try:
            svc = await client.get_service(session["service_id"])
            page = await svc.where()
            return {"via": self.ids[via], "ok": True, "seconds": time.monotonic() - t0,
                    "worker": session["worker_id"].split(":")[-1], "page": page}
        finally:
            await apps.stop(session["id"])

    async def run(self, count: int, max_failures: int = MAX_FAILURES) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        for k in range(count):
            results.append(await self.start_once(k % len(self.apps)))
            if sum(not r["ok"] for r in results) >= max_failures:
                break
        return results

    async def close(self) -> None:
        for client in self.clients:
            try:
                await client.disconnect()
            except Exception:
                pass
        for proc in self.workers.values():
            kill_group(proc, signal.SIGTERM)
        for proc in self.workers.values():
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except asyncio.TimeoutError:
                kill_group(proc)
                await proc.wait()


def _short(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Failed to start app", "Failed to install app"):
        if marker in text:
            text = text[text.index(marker):]
    return text[:300]


def report(title: str, results: list[dict[str, Any]]) -> str:
    ok = [r for r in results if r["ok"]]
    lines = [f"{title}: {len(ok)}/{len(results)} ok, per server "
             f"{dict(Counter(r['via'] for r in ok))}, per worker {dict(Counter(r['worker'] for r in ok))}"]
    lines += [f"  FAILED via {r['via']} after {r['seconds']:.1f}s: {r['error']}" for r in results if not r["ok"]]
    return "\n".join(lines)


@pytest_asyncio.fixture(params=["direct", "behind-one-url"])
async def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Deployment]:
    async with LocalHyphaCluster(2, log_dir=tmp_path / "logs") as cluster:
        dep = Deployment(cluster)
        try:
            await dep.start(behind_one_url=request.param == "behind-one-url")
            yield dep
        finally:
            await dep.close()


async def test_starts_through_either_server_reach_either_worker(deployment: Deployment) -> None:
    dep = deployment
    install_errors = await dep.install()
    print(f"\ninstall: {len(install_errors)} failed attempt(s) {install_errors}")

    before = await dep.run(40)
    print(report("40 starts, two workers", before))
    assert all(r["ok"] for r in before) and len(before) == 40, report("before the kill", before)
    assert set(r["worker"] for r in before) == {"bw-a", "bw-b"}, report("before the kill", before)
    # Every page connected to the instance whose controller asked for it.
    for r in before:
        assert r["page"].startswith(dep.cluster.servers[dep.ids.index(r["via"])].url), r

    kill_group(dep.workers["b"])  # SIGKILL the worker on server b (and its Chromium)
    await dep.workers["b"].wait()
    unlisted = await dep.wait_workers(1)
    after = await dep.run(20)
    print(report(f"20 starts after SIGKILL of bw-b (unlisted after {unlisted:.2f}s)", after))
    assert all(r["ok"] for r in after) and len(after) == 20, report("after the kill", after)
    assert set(r["worker"] for r in after) == {"bw-a"}
    assert install_errors == []
