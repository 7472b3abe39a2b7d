"""Issue 20: the Hypha server going away (SIGKILL, restart on the same port), tokens that expire,
and a server that will not take the worker back: `browser-worker serve` as an operator runs it."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any, AsyncIterator

import pytest
import pytest_asyncio
from hypha_rpc import connect_to_server

from browser_worker.testing.cluster import LocalRedisServer
from browser_worker.testing.hypha_server import LocalHyphaServer

from ._support import APP_JS, serve_process

pytestmark = pytest.mark.e2e

APP = """<config lang="json">{"name": "Restart Probe", "type": "window", "version": "0.1.0"}</config>
<script lang="javascript">
api.export({ setup() {}, echo(x) { return x; } });
</script>
"""

#: An app whose page cannot reconnect (as one the restarted server refused back, or whose
#: hypha-rpc gave up): the worker must end its session, not report it running forever.
QUITTER = """<config lang="json">{"name": "Restart Quitter", "type": "window", "version": "0.1.0"}</config>
<script lang="javascript">
api.rpc._connection._enable_reconnect = false;
api.export({ setup() {}, echo(x) { return x; } });
</script>
"""
GRACE = 20  # BROWSER_WORKER_SESSION_RECONNECT_GRACE in these tests


@pytest_asyncio.fixture
async def own_server() -> AsyncIterator[LocalHyphaServer]:
    """A server of this test's own, which it may kill and restart."""
    server = LocalHyphaServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def remembering(redis: LocalRedisServer, folder: Any) -> LocalHyphaServer:
    """A server whose state outlives its process, as in production: a real Redis and a
    database file (restarted with the same server id)."""
    return LocalHyphaServer(redis_uri=redis.uri, reset_redis=False, server_id="solo",
                            database_uri=f"sqlite+aiosqlite:///{folder / 'hypha.db'}")


async def kill_and_restart(server: LocalHyphaServer, jwt_secret: str | None = None) -> float:
    """SIGKILL the Hypha process, start it again on the same port; return when it is ready."""
    hypha = next(p for p in server._procs if p.returncode is None and p is not server._procs[0])
    os.kill(hypha.pid, signal.SIGKILL)
    await hypha.wait()
    await server.stop()  # the S3 emulator too: start() brings both back
    if jwt_secret is not None:
        server.jwt_secret = jwt_secret
    await server.start()
    return time.monotonic()


async def connected(url: str, token: str, timeout: float = 30) -> Any:
    """A client of a server that has just come back. Its first connections may be refused
    while the server creates the user's workspace for another client ("already exists")."""
    t0 = time.monotonic()
    while True:
        try:
            return await connect_to_server({"server_url": url, "token": token})
        except Exception:
            assert time.monotonic() - t0 < timeout, "could not connect to the restarted server"
            await asyncio.sleep(0.2)


async def registered_after(server: LocalHyphaServer, token: str, service_id: str, timeout: float = 60) -> tuple[Any, float]:
    """A client of the restarted server, once it lists the worker's service again."""
    start = time.monotonic()
    client = await connected(server.url, token)
    while True:  # a server just ready may not have registered its app controller yet
        try:
            apps = await client.get_service("public/server-apps")
            break
        except Exception:
            assert time.monotonic() - start < timeout, "the server's app controller never came up"
            await asyncio.sleep(0.1)
    while not [w for w in await apps.list_workers() if w["id"].endswith(":" + service_id)]:
        assert time.monotonic() - start < timeout, "the worker never registered again"
        await asyncio.sleep(0.05)
    return client, time.monotonic() - start


async def start_and_call(client: Any, source: str = APP) -> str:
    apps = await client.get_service("public/server-apps")
    app = await apps.install(source=source, overwrite=True, timeout=60)
    session = await apps.start(app["id"], wait_for_service="default", timeout=60)
    svc = await client.get_service(session["id"] + ":default", {"timeout": 10})
    assert await svc.echo(5) == 5
    return session["id"]


async def reachable(client: Any, worker_id: str, timeout: float = 60) -> float:
    """Seconds until the worker's service answers a call (its registration is live again;
    the server's registry may still hold the one from before the restart until then)."""
    t0 = time.monotonic()
    while True:
        try:
            worker = await client.get_service(worker_id, {"timeout": 1})
            await asyncio.wait_for(worker.get_load(), 2)
            return time.monotonic() - t0
        except Exception:
            assert time.monotonic() - t0 < timeout, "the worker never answered again"
            await asyncio.sleep(0.05)


async def answers_or_ends(client: Any, worker: Any, session_id: str, timeout: float = 200) -> tuple[str, float]:
    """Wait until the session answers again ("answered") or the worker reports it ended (its
    status); either is true to the server. Still running and unreachable at ``timeout`` fails."""
    t0 = time.monotonic()
    while True:
        info = await worker.get_session_info(session_id)
        if info["status"] != "running":
            return info["status"], time.monotonic() - t0
        try:
            svc = await client.get_service(session_id + ":default", {"timeout": 2})
            assert await asyncio.wait_for(svc.echo(7), 5) == 7
            return "answered", time.monotonic() - t0
        except Exception:
            pass
        assert time.monotonic() - t0 < timeout, f"{session_id} is reported running but never answered"
        await asyncio.sleep(0.5)


async def call_soon(client: Any, session_id: str, value: Any, timeout: float = 30) -> Any:
    """``echo(value)`` on the session's default service, asked again at once on a failure (a
    page back on the server may still be in its handshake, which the server holds up to 1 s)."""
    t0 = time.monotonic()
    while True:
        try:
            svc = await client.get_service(session_id + ":default", {"timeout": 2})
            return await asyncio.wait_for(svc.echo(value), 2)
        except Exception:
            assert time.monotonic() - t0 < timeout, f"{session_id} did not answer within {timeout}s"
            await asyncio.sleep(0.1)


async def stop(proc: asyncio.subprocess.Process) -> tuple[int, str]:
    if proc.returncode is None:
        proc.terminate()
    out = (await asyncio.wait_for(proc.stdout.read(), 60)).decode(errors="replace")  # type: ignore[union-attr]
    return await asyncio.wait_for(proc.wait(), 60), out


@pytest.mark.timeout(900)
async def test_worker_serves_again_after_the_server_is_killed_and_restarted(own_server: LocalHyphaServer) -> None:
    token = await own_server.user_token("restart")
    proc = await serve_process(own_server.url, token, "restart-worker",
                               env={"BROWSER_WORKER_SESSION_RECONNECT_GRACE": str(GRACE)})
    try:
        client = await connect_to_server({"server_url": own_server.url, "token": token})
        before = await start_and_call(client)
        quitter = await start_and_call(client, QUITTER)
        await client.disconnect()
        figures = []
        for _ in range(2):
            ready = await kill_and_restart(own_server)
            client, took = await registered_after(own_server, token, "restart-worker")
            t = time.monotonic()
            await start_and_call(client)
            figures.append((took, time.monotonic() - ready, time.monotonic() - t))
            await client.disconnect()
            assert proc.returncode is None, "the worker process died"
        print("\nafter restart: registered again / a start answered (s after ready): "
              + ", ".join(f"{a:.2f}/{b:.2f}" for a, b, _ in figures))
        assert all(took < 30 for took, _, _ in figures)  # generous: it did not hang
        # The sessions from before: the server forgot them (its state went with it). The page
        # that cannot reconnect is ended by the worker once the grace is over; the other one
        # answers again or, if the server refused it back, is ended too: never running while gone.
        client = await connect_to_server({"server_url": own_server.url, "token": token})
        (worker_id,) = [w["id"] for w in await (await client.get_service("public/server-apps")).list_workers()
                        if w["id"].endswith(":restart-worker")]
        remote = await client.get_service(worker_id)
        status, took = await answers_or_ends(client, remote, quitter, GRACE + 60)
        info = await remote.get_session_info(quitter)
        assert status == "failed" and "did not reconnect: its client gave up" in info.get("error", ""), info
        print(f"\nthe page that cannot reconnect: session {status} {took:.1f}s after the check began")
        status, took = await answers_or_ends(client, remote, before)
        print(f"the page that can: {status} {took:.1f}s after that")
        logs = await remote.get_logs(quitter)
        assert any("did not reconnect" in item["content"] for item in logs["items"]), logs
        await client.disconnect()
    finally:
        code, out = await stop(proc)
        print("\nworker output:\n" + out[-5000:])  # shown when the test fails
    assert code == 0, out


@pytest.mark.timeout(900)
async def test_with_redis_and_a_database_a_restarted_server_gets_the_worker_and_its_sessions_back(tmp_path: Any) -> None:
    """Production: Redis and the database outlive the server process. Killed and restarted
    twice, the server lists the worker again, a new start works, and the session from before
    the restarts is either reported ended by the worker or answers again."""
    async with LocalRedisServer() as redis:
        server = remembering(redis, tmp_path)
        async with server:
            token = await server.user_token("keeper")
            proc = await serve_process(server.url, token, "keeper-worker")
            try:
                client = await connect_to_server({"server_url": server.url, "token": token})
                before = await start_and_call(client)
                (worker_id,) = [w["id"] for w in await (await client.get_service("public/server-apps")).list_workers()
                                if w["id"].endswith(":keeper-worker")]
                await client.disconnect()
                figures = []
                for _ in range(2):
                    ready = await server.kill_and_restart()
                    client = await connected(server.url, token)
                    await reachable(client, worker_id)
                    took = time.monotonic() - ready
                    await start_and_call(client)
                    started = time.monotonic() - ready
                    old, back = await answers_or_ends(client, await client.get_service(worker_id), before)
                    figures.append((took, started, old, back))
                    await client.disconnect()
                    assert proc.returncode is None, "the worker process died"
                print("\nredis restarts: the worker answers / a new start answered (s after ready) / "
                      "the old session: " + "; ".join(
                          f"{a:.2f}/{b:.2f}/{st} after {c:.2f}"
                          for a, b, st, c in figures))
                assert all(took < 30 and started < 60 for took, started, _, _ in figures)  # it did not hang
            finally:
                code, out = await stop(proc)
            assert code == 0, out


async def test_an_expired_token_does_not_stop_the_worker(own_server: LocalHyphaServer) -> None:
    """The login token expires while connected, then the server restarts: hypha-rpc comes back
    with its reconnection token and the worker serves on."""
    short = await own_server.user_token("expiry", expires_in=4)
    proc = await serve_process(own_server.url, short, "expiry-worker")
    try:
        await asyncio.sleep(6)  # past the token's expiry
        token = await own_server.user_token("expiry")
        client = await connect_to_server({"server_url": own_server.url, "token": token})
        await start_and_call(client)
        await client.disconnect()
        await kill_and_restart(own_server)
        client, _ = await registered_after(own_server, token, "expiry-worker")
        await start_and_call(client)
        await client.disconnect()
        assert proc.returncode is None
    finally:
        code, out = await stop(proc)
    assert code == 0, out


async def test_a_server_that_refuses_the_worker_back_makes_it_exit_3(own_server: LocalHyphaServer) -> None:
    """Restarted with a new secret, the server refuses the worker's reconnection: the worker
    must not sit there registered nowhere; it exits 3 saying why (a supervisor restarts it)."""
    token = await own_server.user_token("refused", expires_in=4)
    proc = await serve_process(own_server.url, token, "refused-worker")
    try:
        await asyncio.sleep(5)  # the login token has expired too
        await kill_and_restart(own_server, jwt_secret="another-secret-" + os.urandom(8).hex())
        code = await asyncio.wait_for(proc.wait(), 120)
        out = (await proc.stdout.read()).decode(errors="replace")  # type: ignore[union-attr]
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert code == 3, out
    assert "lost the Hypha server" in out and "the token expired at" in out, out
    assert token not in out


WORKER_APP = """await api.export({ setup() {}, echo(x) { return x; } });"""
PYTHON_APP = """from hypha_rpc import api

class Echo:
    def setup(self):
        pass
    def echo(self, x):
        return x

api.export(Echo())
"""


@pytest.mark.timeout(600)
async def test_app_pages_of_every_type_reconnect_when_the_worker_asks(tmp_path: Any) -> None:
    """Issue 27: after a server restart an app page's hypha-rpc sleeps on its back-off (1 s
    doubling to 60 s) while the server, on Redis, still hands its instance to every start. The
    worker asks each page to end the sleep as soon as the server is ready: a window, a web-worker
    and a web-python page each answer "reconnecting", then "connected" (well before their own
    next try), and serve calls again."""
    from browser_worker import BrowserWorker, WorkerSettings
    from browser_worker.testing import internals

    from ._support import settle

    async with LocalRedisServer() as redis:
        server = remembering(redis, tmp_path)
        async with server:
            token = await server.user_token("pages")
            settings = WorkerSettings.from_env(server_url=server.url, pool_size=1, python_pool_size=1,
                                               start_timeout=120.0)
            async with BrowserWorker(settings) as worker:
                ids = {}
                for kind, source in (("window", APP_JS), ("web-worker", WORKER_APP), ("web-python", PYTHON_APP)):
                    cid = f"rc-{kind}-{os.urandom(3).hex()}"
                    ids[kind] = await worker.start({
                        "id": f"ws-user-pages/{cid}", "workspace": "ws-user-pages", "client_id": cid,
                        "app_id": f"reconnect-{kind}", "server_url": server.url, "token": token,
                        "source": source, "manifest": {"type": kind, "name": f"reconnect {kind}"},
                    })
                reconnector = internals(worker).reconnector
                worker.reconnect_pages()  # all connected: nothing to do
                assert set((await reconnector.wait()).values()) == {"connected"}

                # Down for 20 s, each page's back-off has grown to 8-16 s: left alone, none would
                # be back within 5 s of the server (its next try is about 7 s after ready).
                await server.kill_and_restart(down=20)
                worker.reconnect_pages()  # as serve's ConnectionWatch does once the server is ready
                answers = await asyncio.wait_for(reconnector.wait(), 5)
                assert answers == {sid: "connected" for sid in ids.values()}, answers
                assert {reconnector.first[sid] for sid in ids.values()} == {"reconnecting"}, reconnector.first
                client = await connected(server.url, token)
                for kind, sid in ids.items():
                    assert await call_soon(client, sid, kind) == kind
                    logs = await worker.get_logs(sid)
                    assert any("the Hypha server is back: the page reconnected" in i["content"]
                               for i in logs["items"]), (kind, logs["items"][-5:])
                await client.disconnect()
                for sid in ids.values():
                    await worker.stop(sid)
                await settle(worker)


@pytest.mark.timeout(600)
async def test_on_redis_an_instance_whose_page_cannot_come_back_is_not_listed_for_long(tmp_path: Any) -> None:
    """Issue 27: a server on Redis lists the instances from before its restart and hands them to
    the next start. One whose page cannot reconnect is ended by the worker after the grace, and
    the worker then has the server stop listing it: the next start of that app gets a new
    instance that answers (before: the dead one, listed for good)."""
    grace = 8
    async with LocalRedisServer() as redis:
        server = remembering(redis, tmp_path)
        async with server:
            token = await server.user_token("quitter")
            proc = await serve_process(server.url, token, "quitter-worker",
                                       env={"BROWSER_WORKER_SESSION_RECONNECT_GRACE": str(grace)})
            try:
                client = await connect_to_server({"server_url": server.url, "token": token})
                kept = await start_and_call(client)
                dead = await start_and_call(client, QUITTER)
                await client.disconnect()
                ready = await server.kill_and_restart()
                client = await connected(server.url, token)
                apps = await client.get_service("public/server-apps")
                assert await call_soon(client, kept, 3) == 3  # the page that can come back did
                while dead in [s["id"] for s in await apps.list_running()]:
                    assert time.monotonic() - ready < grace + 60, "the dead instance is still listed"
                    await asyncio.sleep(0.5)
                gone_after = time.monotonic() - ready
                fresh = await start_and_call(client, QUITTER)
                assert fresh != dead
                print(f"\nthe instance whose page could not reconnect was no longer listed {gone_after:.1f}s "
                      f"after ready (grace {grace}s); a new start of it answered")
                await client.disconnect()
            finally:
                code, out = await stop(proc)
                print("\nworker output:\n" + out[-4000:])  # shown when the test fails
            assert code == 0, out
