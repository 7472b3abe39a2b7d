"""Recovery after faults, through a real Hypha server: the time of each call after the fault.

Chromium SIGKILL (issue 20): an app started three times (Hypha hands back one running
instance), the worker's Chromium killed, then the app started again after ``--delays`` seconds.
Per trial it prints when Playwright reported the browser lost, when Hypha's controller called
the worker's ``stop`` for the dead instance and how long that took, when the server stopped
listing the instance, and when the next start answered (its ``default`` service called).

A start that reaches the server before its controller has handled the app client's disconnect
(tens of ms after the kill) is handed the dead instance, whatever the worker; calling it then
times out after hypha-rpc's 10 s. ``--delays 0`` shows that window.

Hypha server SIGKILL (``--server-restarts N``): a ``browser-worker serve`` process registered on
the server, the server killed and started again on the same port N times; per restart it prints
when the worker's service was listed again and when a start through the server answered, both
counted from the moment the restarted server was ready.

Hypha server SIGKILL with an app running (``--redis-restarts N``): the server on a real Redis and
an SQLite file (so it remembers the instance from before), one app instance running on a
``browser-worker serve`` process; per restart, counted from the moment the restarted server was
ready, it prints when the worker answered again, when the instance from before answered again
(or was no longer listed), and when a start of that app, issued at once and retried at once on
an error as a user would, had its ``default`` service answer.

Run: .venv/bin/python benchmarks/recovery.py [--trials 3] [--delays 0,0.05,0.3] [--server-restarts 2]
     [--redis-restarts 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time
from typing import Any

import psutil
from hypha_rpc import connect_to_server

from common import quiet_logs

from browser_worker import BrowserWorker, WorkerSettings, registered
from browser_worker.testing.hypha_server import LocalHyphaServer
from browser_worker.testing import internals

APP = """<config lang="json">{"name": "Recovery", "type": "window", "version": "0.1.0"}</config>
<script lang="javascript">
api.export({ setup() {}, echo(x) { return x; } });
</script>
"""


def chromium_pids() -> set[int]:
    pids = set()
    for proc in psutil.Process().children(recursive=True):
        try:
            cmd = proc.cmdline()
        except psutil.Error:
            continue
        if cmd and "chrom" in os.path.basename(cmd[0]) and not any(a.startswith("--type=") for a in cmd):
            pids.add(proc.pid)
    return pids


class Timeline:
    """What happened after the fault, each event at its time since the fault."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.t0 = time.monotonic()

    def at(self) -> str:
        return f"+{time.monotonic() - self.t0:.3f}s"

    def note(self, event: str) -> None:
        self.events.append(event)

    def timed_stop(self, w: BrowserWorker) -> None:
        """Record when the worker's ``stop`` is called and returns (before registering)."""
        real_stop = w.stop

        async def stop(session_id: Any, context: Any = None) -> None:
            called = self.at()
            try:
                return await real_stop(session_id, context)
            finally:
                self.note(f"stop {called}→{self.at()}")

        w.stop = stop  # type: ignore[method-assign]
        internals(w).host.subscribe(on_lost=lambda _: self.note(f"lost {self.at()}"))


async def browser_kill_trial(tl: Timeline, apps: Any, alice: Any, app_id: str, delay: float,
                             before: set[int]) -> str:
    at = tl.at
    for _ in range(3):
        dead = (await apps.start(app_id, wait_for_service="default", timeout=60))["id"]
    await asyncio.sleep(1.0)
    os.kill(max(chromium_pids() - before), signal.SIGKILL)
    tl.events, tl.t0 = [], time.monotonic()
    events = tl.events

    async def forgotten() -> None:
        while dead in [s["id"] for s in await apps.list_running()]:
            await asyncio.sleep(0.01)
        events.append(f"server forgot {at()}")

    watcher = asyncio.ensure_future(forgotten())
    await asyncio.sleep(delay)
    while True:
        sent = at()
        try:
            fresh = await apps.start(app_id, wait_for_service="default", timeout=30)
            svc = await alice.get_service(fresh["id"] + ":default", {"timeout": 10})
            await svc.echo(1)
            events.append(f"start {sent} answered {at()} ({'new' if fresh['id'] != dead else 'dead'} instance)")
            break
        except Exception as exc:
            events.append(f"start {sent} failed {at()} ({type(exc).__name__})")
    await watcher
    await apps.stop(fresh["id"])
    await asyncio.sleep(1.0)
    return f"delay {delay:g}s: " + "; ".join(events)


async def server_restarts(count: int) -> None:
    import signal as _signal
    import sys

    server = LocalHyphaServer()
    await server.start()
    token = await server.user_token("recovery")
    env = {**os.environ, "HYPHA_SERVER_URL": server.url, "HYPHA_TOKEN": token,
           "BROWSER_WORKER_SERVICE_ID": "recovery-worker", "BROWSER_WORKER_PYTHON_POOL_SIZE": "0"}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "browser_worker", "serve", env=env,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        print("Hypha server SIGKILLed and restarted on the same port (times after the server is ready):")
        for i in range(count + 1):
            if i:
                hypha = server._procs[-1]
                os.kill(hypha.pid, _signal.SIGKILL)
                await hypha.wait()
                await server.stop()
                await server.start()
            ready = time.monotonic()
            client = await connect_to_server({"server_url": server.url, "token": token})
            apps = await client.get_service("public/server-apps")
            while not [w for w in await apps.list_workers() if w["id"].endswith(":recovery-worker")]:
                await asyncio.sleep(0.02)
            listed = time.monotonic() - ready
            app = await apps.install(source=APP, overwrite=True, timeout=60)
            session = await apps.start(app["id"], wait_for_service="default", timeout=60)
            svc = await client.get_service(session["id"] + ":default", {"timeout": 10})
            await svc.echo(1)
            answered = time.monotonic() - ready
            label = "first start" if not i else f"restart {i}"
            print(f"  {label}: worker listed +{listed:.2f}s, a start answered +{answered:.2f}s", flush=True)
            await client.disconnect()
    finally:
        proc.send_signal(_signal.SIGTERM)
        await proc.wait()
        await server.stop()


async def redis_restarts(count: int) -> None:
    """A start issued as soon as a restarted server (on Redis) is ready, with an instance from before."""
    import sys
    import tempfile

    from browser_worker.testing.cluster import LocalRedisServer

    async with LocalRedisServer() as redis:
        db = tempfile.mkdtemp(prefix="bw-bench-db-")
        server = LocalHyphaServer(redis_uri=redis.uri, reset_redis=False, server_id="solo",
                                  database_uri=f"sqlite+aiosqlite:///{db}/hypha.db")
        await server.start()
        token = await server.user_token("recovery")
        env = {**os.environ, "HYPHA_SERVER_URL": server.url, "HYPHA_TOKEN": token,
               "BROWSER_WORKER_SERVICE_ID": "redis-worker", "BROWSER_WORKER_PYTHON_POOL_SIZE": "0"}
        log_to = open(os.environ["BENCH_WORKER_LOG"], "ab") if os.environ.get("BENCH_WORKER_LOG") else asyncio.subprocess.DEVNULL
        proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "browser_worker", "serve", env=env,
                                                    stdout=log_to, stderr=asyncio.subprocess.STDOUT)
        try:
            client = await connect_to_server({"server_url": server.url, "token": token})
            apps = await client.get_service("public/server-apps")
            while not (workers := [w["id"] for w in await apps.list_workers() if w["id"].endswith(":redis-worker")]):
                await asyncio.sleep(0.05)
            worker_id = workers[0]
            app_id = (await apps.install(source=APP, overwrite=True, timeout=60))["id"]
            old = (await apps.start(app_id, wait_for_service="default", timeout=60))["id"]
            await (await client.get_service(old + ":default")).echo(1)
            await client.disconnect()
            print("Hypha server on Redis SIGKILLed and restarted with an app instance running "
                  "(times after the server is ready):")
            for i in range(count):
                ready = await server.kill_and_restart()
                print(f"  (ready at {time.strftime('%H:%M:%S')}.{int(time.time() % 1 * 1000):03d})", flush=True)
                at = lambda: f"+{time.monotonic() - ready:.2f}s"  # noqa: E731
                events: list[str] = []
                watch = asyncio.ensure_future(_watch_restart(server.url, token, worker_id, old, at, events))
                attempts = 0
                while True:
                    attempts += 1
                    try:
                        step = "connect"
                        user = await connect_to_server({"server_url": server.url, "token": token})
                        try:
                            step = "start"
                            apps = await user.get_service("public/server-apps")
                            session = await apps.start(app_id, wait_for_service="default", timeout=60)
                            step = f"call {'old' if session['id'] == old else 'new'} {at()}"
                            svc = await user.get_service(session["id"] + ":default", {"timeout": 10})
                            await svc.echo(1)
                        finally:
                            await user.disconnect()
                        kind = "the instance from before" if session["id"] == old else "a new instance"
                        events.append(f"start answered {at()} ({kind}, attempt {attempts})")
                        old = session["id"]
                        break
                    except Exception as exc:
                        events.append(f"start failed at {step} {at()} ({type(exc).__name__}: {str(exc).strip().splitlines()[-1][:120] if str(exc).strip() else ''})")
                        if attempts > 20:
                            raise
                try:
                    await asyncio.wait_for(watch, 60)
                except asyncio.TimeoutError:
                    events.append("the old instance neither answered nor was forgotten within 60 s")
                print(f"  restart {i + 1}: " + "; ".join(events), flush=True)
        finally:
            proc.send_signal(signal.SIGTERM)
            await proc.wait()
            await server.stop()


async def _watch_restart(url: str, token: str, worker_id: str, old: str, at: Any, events: list[str]) -> None:
    """Note when the worker answers again, and when the instance from before answers or is gone
    (each asked every 50 ms, with a 0.5 s deadline per question)."""
    while True:
        try:
            client = await connect_to_server({"server_url": url, "token": token})
            break
        except Exception:
            await asyncio.sleep(0.02)
    events.append(f"observer connected {at()}")

    async def first_success(probe: Any) -> None:
        """Start a probe every 50 ms (each may take up to 0.5 s: a call to a client that is not
        back is lost); return once one of them succeeded."""
        done = asyncio.Event()

        async def one() -> None:
            try:
                if await probe():
                    done.set()
            except Exception:
                pass

        tasks = set()
        while not done.is_set():
            task = asyncio.ensure_future(one())
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            try:
                await asyncio.wait_for(done.wait(), 0.05)
            except asyncio.TimeoutError:
                pass
        for task in list(tasks):
            task.cancel()

    async def worker_answers() -> bool:
        worker = await client.get_service(worker_id, {"timeout": 0.5})
        await asyncio.wait_for(worker.get_load(), 0.5)
        if not any(e.startswith("worker") for e in events):
            events.append(f"worker answered {at()}")
        return True

    async def instance_answers() -> bool:
        apps = await client.get_service("public/server-apps")
        if old not in [s["id"] for s in await apps.list_running()]:
            note = f"old instance forgotten {at()}"
        else:
            svc = await client.get_service(old + ":default", {"timeout": 0.5})
            await asyncio.wait_for(svc.echo(2), 0.5)
            note = f"old instance answered {at()}"
        if not any(e.startswith("old instance") for e in events):
            events.append(note)
        return True

    async def worker_back() -> None:
        await first_success(worker_answers)

    async def instance_back() -> None:
        await first_success(instance_answers)

    try:
        await asyncio.gather(worker_back(), instance_back())
    finally:
        await client.disconnect()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=3, help="trials per delay")
    parser.add_argument("--delays", default="0,0.05,0.3", help="seconds between the kill and the next start")
    parser.add_argument("--server-restarts", type=int, default=2, help="Hypha server restarts (0: none)")
    parser.add_argument("--redis-restarts", type=int, default=0,
                        help="restarts of a server on Redis with an app instance running (0: none)")
    args = parser.parse_args()
    quiet_logs()
    if args.redis_restarts:
        await redis_restarts(args.redis_restarts)
        if not args.server_restarts and not args.trials:
            return
    if args.server_restarts:
        await server_restarts(args.server_restarts)
    async with LocalHyphaServer() as server:
        token = await server.user_token("alice")
        before = chromium_pids()
        async with BrowserWorker(WorkerSettings.from_env(server_url=server.url, python_pool_size=0)) as w:
            tl = Timeline()
            tl.timed_stop(w)
            async with registered(w, server.url, token):
                alice = await connect_to_server({"server_url": server.url, "token": token})
                apps = await alice.get_service("public/server-apps")
                app = await apps.install(source=APP, overwrite=True, timeout=60)
                print("Chromium SIGKILL with a live session, then start the app again:")
                for delay in [float(d) for d in args.delays.split(",")]:
                    for _ in range(args.trials):
                        print(" ", await browser_kill_trial(tl, apps, alice, app["id"], delay, before), flush=True)
                await alice.disconnect()


if __name__ == "__main__":
    asyncio.run(main())
