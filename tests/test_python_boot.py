"""Issue 13: cheap web-python starts — a Pyodide memory snapshot made once per worker, boots
admitted a few at a time (shortest first), and warm Python pages sized by recent bursts.

The e2e tests run pages that may reach 127.0.0.1 only (offline) on a worker with no warm Python
page, so every start boots a cold page from the snapshot.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from browser_worker import BrowserWorker
from browser_worker._pyodide.asset_server import AssetServer
from browser_worker._pyodide.assets import AssetPaths, default_paths, write_index
from browser_worker._browser.boot_gate import COLD_START, REFILL, WARM_START, BootGate
from browser_worker._browser.demand import BurstDemand
from browser_worker._pyodide.snapshot import SECRET_HEADER, SnapshotStore
from browser_worker.testing import internals

from ._support import make_wheel

E2E = pytest.mark.e2e


# ----- the boot gate ------------------------------------------------------------------------


async def test_boot_gate_admits_by_priority_then_arrival() -> None:
    gate = BootGate(limit=1)
    order: list[str] = []
    release = asyncio.Event()

    async def holder() -> None:
        async with gate.slot(COLD_START):
            await release.wait()

    async def job(name: str, priority: int) -> None:
        async with gate.slot(priority):
            order.append(name)

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    jobs = [asyncio.create_task(job(n, p)) for n, p in
            (("refill", REFILL), ("cold-1", COLD_START), ("warm", WARM_START), ("cold-2", COLD_START))]
    await asyncio.sleep(0)
    assert gate.active == 1 and gate.waiting() == 4 and order == []
    release.set()
    await asyncio.gather(first, *jobs)
    assert order == ["warm", "cold-1", "cold-2", "refill"]
    assert gate.active == 0 and gate.waiting() == 0


async def test_boot_gate_limit_and_cancelled_waiters_keep_no_slot() -> None:
    gate = BootGate(limit=2)
    inside = 0
    peak = 0

    async def job() -> None:
        nonlocal inside, peak
        async with gate.slot(COLD_START):
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    waiter = None
    async with gate.slot(COLD_START), gate.slot(COLD_START):
        waiter = asyncio.create_task(job())
        await asyncio.sleep(0)
        assert gate.waiting(COLD_START) == 1
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)
        assert gate.waiting() == 0
    assert gate.active == 0
    await asyncio.gather(*(job() for _ in range(7)))
    assert peak == 2 and gate.active == 0
    with pytest.raises(ValueError, match="limit must be at least 1"):
        BootGate(0)


# ----- warm pages sized by demand ------------------------------------------------------------


def test_burst_demand_raises_the_target_then_falls_back() -> None:
    demand = BurstDemand(floor=1, cap=8, span=10, memory=600)
    assert demand.target(now=0) == 1
    for i in range(5):
        demand.note(now=100 + i * 0.1)
    assert demand.target(now=101) == 5
    for i in range(12):
        demand.note(now=200 + i * 0.1)
    assert demand.target(now=201) == 8  # capped
    demand.note(now=400)  # a lone start later does not lower the remembered burst
    assert demand.target(now=500) == 8
    assert demand.target(now=200 + 1.1 + 601) == 1  # ten minutes after the burst: the floor
    for i in range(30):
        demand.note(now=1000 + i * 20)  # a slow trickle is no burst
    assert demand.target(now=1600) == 1
    assert BurstDemand(floor=0, cap=0).target() == 0


# ----- the snapshot store on the asset server ----------------------------------------------


async def test_snapshot_is_uploaded_once_with_the_secret_and_served_to_pages(tmp_path: Path) -> None:
    store = SnapshotStore("k1")
    server = AssetServer(AssetPaths(tmp_path), snapshot=store)
    url = await server.start()
    upload = store.upload_config(url)
    assert upload["url"] == f"{url}/pyodide-snapshot/k1" and len(upload["secret"]) >= 32
    try:
        async with aiohttp.ClientSession() as http:
            early = asyncio.ensure_future(http.get(upload["url"]))  # waits for the upload
            async with http.put(upload["url"], data=b"forged", headers={SECRET_HEADER: "guess"}) as r:
                assert r.status == 403 and SECRET_HEADER in await r.text()
            async with http.put(upload["url"], data=b"bundle-bytes", headers={SECRET_HEADER: upload["secret"]}) as r:
                assert r.status == 204
            async with http.put(upload["url"], data=b"again", headers={SECRET_HEADER: upload["secret"]}) as r:
                assert r.status == 403  # one upload only
            response = await early
            assert response.status == 200 and await response.read() == b"bundle-bytes"
            assert response.headers["Access-Control-Allow-Origin"] == "*"
            response.release()
        assert store.ready and store.size == len(b"bundle-bytes")
    finally:
        await server.close()


async def test_failed_snapshot_answers_404_with_the_reason(tmp_path: Path) -> None:
    store = SnapshotStore("k2")
    server = AssetServer(AssetPaths(tmp_path), snapshot=store)
    url = await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            pending = asyncio.ensure_future(http.get(url + store.path))
            await asyncio.sleep(0.05)
            store.fail("Can't serialize object at index 23")
            response = await pending
            assert response.status == 404
            assert "no Pyodide snapshot: Can't serialize object at index 23" in await response.text()
            response.release()
        with pytest.raises(RuntimeError, match="already uploaded or given up"):
            store.upload_config(url)
    finally:
        await server.close()


# ----- e2e: cold starts from the snapshot ------------------------------------------------------

RANDOM_APP = """import random
import hypha_rpc
from hypha_rpc import api
value = random.random()
print("snapshot app", hypha_rpc.__name__)
api.export({"setup": lambda: None, "value": lambda: value, "add": lambda a, b: a + b})
"""


def config(server: Any, token: str, code: str, **manifest: Any) -> dict[str, Any]:
    cid = f"snap-{uuid.uuid4().hex[:8]}"
    return {
        "id": f"ws-user-dora/{cid}", "workspace": "ws-user-dora", "client_id": cid, "app_id": "snap-test",
        "server_url": server.url, "token": token, "source": code,
        "manifest": {"type": "web-python", "name": "snap-test", **manifest},
    }


@E2E
async def test_cold_web_python_starts_from_the_snapshot(settings: Any, hypha_server: Any) -> None:
    from hypha_rpc import connect_to_server

    token = await hypha_server.user_token("dora")
    client = await connect_to_server({"server_url": hypha_server.url, "token": token})
    cold = settings.with_(python_pool_size=0, pool_size=0, allow_hosts="127.0.0.1", python_boot_concurrency=1)
    async with BrowserWorker(cold) as worker:
        assert internals(worker).pyodide_snapshot is not None and not internals(worker).pyodide_snapshot.ready  # made on first demand
        gate = internals(worker).pool.python_boots
        seen: list[tuple[int, int]] = []

        async def watch() -> None:
            while True:
                seen.append((gate.active, gate.waiting()))
                await asyncio.sleep(0.02)

        watcher = asyncio.create_task(watch())
        sids = await asyncio.gather(*(worker.start(config(hypha_server, token, RANDOM_APP)) for _ in range(2)))
        watcher.cancel()
        assert internals(worker).pyodide_snapshot.ready and internals(worker).pyodide_snapshot.size > 10_000_000
        assert max(active for active, _ in seen) == 1  # python_boot_concurrency=1: one page at a time
        assert max(waiting for _, waiting in seen) == 1  # the other start waited its turn
        values = []
        for sid in sids:
            svc = await client.get_service(f"{sid}:default")
            assert await svc.add(2, 3) == 5
            values.append(await svc.value())
            texts = [i["content"] for i in (await worker.get_logs(sid))["items"]]
            assert "[info] snapshot app hypha_rpc" in texts, texts
            assert any(t.startswith("Pyodide ready from a snapshot in") for t in texts), texts
            assert not any("wheels installed" in t for t in texts)  # nothing booted the full way
        assert values[0] != values[1]  # random is seeded again in every restored page

        # micropip, imported before the snapshot, installs a wheelhouse package in a restored page
        paths = default_paths()
        wheel = make_wheel(paths.wheels, "bwsnappkg", 7331)
        write_index(paths)
        try:
            code = "import bwsnappkg\nfrom hypha_rpc import api\napi.export({'setup': lambda: None, 'value': lambda: bwsnappkg.VALUE})"
            sid = await worker.start(config(hypha_server, token, code, requirements=["bwsnappkg"]))
            assert await (await client.get_service(f"{sid}:default")).value() == 7331
        finally:
            wheel.unlink()
            write_index(paths)
        for sid in [*sids, sid]:
            await worker.stop(sid)
    await client.disconnect()


@E2E
async def test_without_the_snapshot_pages_boot_the_full_way(settings: Any, hypha_server: Any) -> None:
    token = await hypha_server.user_token("dora")
    plain = settings.with_(python_pool_size=0, pool_size=0, allow_hosts="127.0.0.1", pyodide_snapshot=False)
    async with BrowserWorker(plain) as worker:
        assert internals(worker).pyodide_snapshot is None and "snapshot" not in (worker.assets_config or {})
        sid = await worker.start(config(hypha_server, token, RANDOM_APP))
        texts = [i["content"] for i in (await worker.get_logs(sid))["items"]]
        assert "[info] snapshot app hypha_rpc" in texts, texts
        assert any(t.startswith("Pyodide ready in") for t in texts)
        assert any("wheels installed in" in t for t in texts)
        await worker.stop(sid)
