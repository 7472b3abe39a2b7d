"""Issue 11, acceptance 1: 300 seeded random operations — good and bad starts, stops,
close_workspace, execute, screenshots, get_logs, with random timing and overlap — against a real
Hypha server end with no session, no load, the warm contexts only, and no app service left.

Each operation's outcome is checked, not just the end state: a good start must succeed unless a
stop or close_workspace of it was issued while it started (then it fails saying so) or the
worker is at capacity (then it says that); a bad start must be refused naming its field; stop
and close_workspace never fail; execute, screenshots and get_logs return what they were asked
for or a WorkerError."""

from __future__ import annotations

import asyncio
import os
import random
import re
import time
from collections import Counter
from typing import Any

import pytest

from browser_worker import AppStartError, BrowserWorker, CapacityError, WorkerError

from ._support import APP_JS, bad_configs, registered_clients, settle

pytestmark = pytest.mark.e2e

OPERATIONS = 300
#: What execute, take_screenshot and get_logs may answer for a session they cannot serve.
NOT_SERVING = (r"^Session <id> is (starting|stopping|stopped|failed), not running$|^Browser session <id> not found$"
               r"|did not finish within 0\.5s|did not become visible within 0\.5s"
               r"|Target page, context or browser has been closed")  # stopped while it ran
SEED = int(os.environ.get("BROWSER_WORKER_TEST_SEED", "20261126"))


async def test_random_operations_end_at_baseline(
    settings: Any, hypha_server: Any, alice: Any, window_config: Any
) -> None:
    rng = random.Random(SEED)
    bad = list(bad_configs(window_config).values())
    async with BrowserWorker(settings.with_(max_sessions=4, pool_size=1, queue_timeout=2, start_timeout=10)) as w:
        await settle(w, 1)
        known: list[str] = ["ws-user-alice/never-started"]
        started: set[str] = set()
        starting: set[str] = set()  # ids whose start is in flight
        interrupted: set[str] = set()  # ids a stop or close_workspace may have hit
        running: set[str] = set()  # ids whose start returned (serving unless interrupted since)
        seen: Counter[str] = Counter()
        outcomes: Counter[tuple[str, str]] = Counter()
        unexpected: list[str] = []
        refusals: Counter[str] = Counter()

        def pick() -> str:
            return rng.choice(known)

        def pick_target() -> str:
            """For execute and screenshots: a session that should be serving half the time."""
            serving = sorted(running - interrupted)
            return rng.choice(serving) if serving and rng.random() < 0.5 else pick()

        def must_serve(sid: str) -> bool:
            """Running before and after the call, and nothing stopped it meanwhile."""
            return sid in running and sid not in interrupted

        def start_failure(name: str, sid: str, exc: WorkerError) -> str:
            """The one acceptable way a start of a good config can fail, or an unexpected one."""
            text = str(exc)
            if isinstance(exc, AppStartError) and re.search("did not start: (stopped while starting|workspace closed)", text):
                if sid in interrupted:
                    return "interrupted"
                unexpected.append(f"{name} {sid}: stopped though nothing stopped it: {text}")
            elif isinstance(exc, CapacityError) and re.search(r"worker at capacity \(\d/4 sessions\)", text):
                return "capacity"
            else:
                unexpected.append(f"{name} {sid}: {type(exc).__name__}: {text}")
            return "unexpected"

        def refusal(name: str, exc: WorkerError) -> str:
            """A call on a session that is not there, not running, or too slow to answer."""
            text = re.sub(r"ws-user-alice/\S+", "<id>", str(exc))
            refusals[f"{name}: {text[:60]}"] += 1
            if re.search(NOT_SERVING, text):
                return "refused"
            unexpected.append(f"{name}: {type(exc).__name__}: {exc}")
            return "unexpected"

        async def a_start(name: str, cfg: dict[str, Any]) -> str:
            known.append(cfg["id"])
            started.add(cfg["client_id"])
            starting.add(cfg["id"])
            try:
                sid = await w.start(cfg)
            except WorkerError as exc:
                return start_failure(name, cfg["id"], exc)
            finally:
                starting.discard(cfg["id"])
            if sid != cfg["id"]:
                unexpected.append(f"{name}: started {sid!r} for {cfg['id']!r}")
            running.add(sid)
            return "ok"

        async def good_start() -> str:
            return await a_start("good start", window_config(APP_JS))

        async def start_then_stop() -> str:
            cfg = window_config(APP_JS)
            task = asyncio.ensure_future(a_start("start then stop", cfg))
            await asyncio.sleep(rng.uniform(0, 0.4))
            interrupted.add(cfg["id"])
            await w.stop(cfg["id"])
            return await task

        async def bad_start() -> str:
            cfg, field = rng.choice(bad)
            try:
                sid = await w.start(cfg)
            except WorkerError as exc:
                if field in str(exc):
                    return "refused"
                unexpected.append(f"bad start refused without naming {field!r}: {exc}")
                return "unexpected"
            unexpected.append(f"bad start ({field}) was started: {sid}")
            await w.stop(sid)
            return "unexpected"

        async def stop() -> str:
            sid = pick()
            interrupted.add(sid)
            assert await w.stop(sid) is None
            return "ok"

        async def close_workspace() -> str:
            interrupted.update(starting | running)
            await w.close_workspace("ws-user-alice")
            return "ok"

        async def execute() -> str:
            sid = pick_target()
            script = rng.choice(["1 + 1", "new Promise(() => {})"])
            serving = must_serve(sid)
            try:
                result = await w.execute(sid, script, timeout=0.5 if script != "1 + 1" else 10)
            except WorkerError as exc:
                if script == "1 + 1" and serving and must_serve(sid):
                    unexpected.append(f"execute on running {sid} refused: {type(exc).__name__}: {exc}")
                    return "unexpected"
                return refusal("execute", exc)
            if script == "1 + 1" and result == 2:
                return "ok"
            unexpected.append(f"execute {script!r} returned {result!r}")
            return "unexpected"

        async def screenshot() -> str:
            sid = pick_target()
            selector = rng.choice([None, "#none"])
            serving = must_serve(sid)
            try:
                png = await w.take_screenshot(sid, selector=selector, timeout=0.5 if selector else 10)
            except WorkerError as exc:
                if selector and str(exc) == f"No element matches selector {selector!r}":
                    return "no element"
                if serving and must_serve(sid):
                    unexpected.append(f"screenshot of running {sid} refused: {type(exc).__name__}: {exc}")
                    return "unexpected"
                return refusal("screenshot", exc)
            if selector:
                unexpected.append(f"screenshot of missing {selector} returned an image")
                return "unexpected"
            if bytes(png[:8]) == b"\x89PNG\r\n\x1a\n":
                return "ok"
            unexpected.append(f"screenshot returned {bytes(png[:16])!r}")
            return "unexpected"

        async def get_logs() -> str:
            limit, offset = rng.choice([None, 5]), rng.choice([0, 3, -1])
            try:
                logs = await w.get_logs(pick(), offset=offset, limit=limit)
            except WorkerError as exc:
                if offset < 0:
                    if "invalid get_logs arguments: offset: Input should be greater than or equal to 0" in str(exc):
                        return "bad offset refused"
                    unexpected.append(f"get_logs offset={offset}: {exc}")
                    return "unexpected"
                return refusal("get_logs", exc)
            if offset < 0:
                unexpected.append(f"get_logs accepted offset={offset}")
                return "unexpected"
            items, total = logs["items"], logs["total"]
            if isinstance(total, int) and len(items) <= min(total, limit or total):
                return "ok"
            unexpected.append(f"get_logs returned {len(items)} items of {total!r} (limit {limit})")
            return "unexpected"

        operations = {
            "good start": (good_start, 6),
            "start then stop": (start_then_stop, 3),
            "bad start": (bad_start, 4),
            "stop": (stop, 4),
            "close_workspace": (close_workspace, 1),
            "execute": (execute, 3),
            "screenshot": (screenshot, 2),
            "get_logs": (get_logs, 3),
        }
        names = list(operations)
        weights = [operations[n][1] for n in names]

        async def run(name: str) -> None:
            seen[name] += 1
            try:
                outcomes[(name, await operations[name][0]())] += 1
            except Exception as exc:  # a WorkerError where none was acceptable, or anything else
                unexpected.append(f"{name}: {type(exc).__name__}: {exc}")

        t0 = time.monotonic()
        in_flight: set[asyncio.Future[None]] = set()
        for _ in range(OPERATIONS):
            in_flight.add(asyncio.ensure_future(run(rng.choices(names, weights)[0])))
            await asyncio.sleep(rng.uniform(0, 0.05))
            if len(in_flight) >= 6:
                _, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
        await asyncio.wait_for(asyncio.gather(*in_flight), 120)
        report = {f"{n}: {o}": c for (n, o), c in sorted(outcomes.items())}
        assert unexpected == [], "\n".join(unexpected + [str(report)])
        assert sum(outcomes.values()) == OPERATIONS == sum(seen.values()), report
        # Every good start is accounted for: it started, or a stop hit it, or the worker was full.
        for name in ("good start", "start then stop"):
            assert sum(outcomes[(name, o)] for o in ("ok", "interrupted", "capacity")) == seen[name], report
        assert outcomes[("good start", "ok")] > 10, report  # (about a third; the rest stopped or queued out)
        # ...and the sessions that started served: calls on them answered (a refusal of a call on
        # a session nothing stopped is in ``unexpected`` above).
        assert outcomes[("execute", "ok")] >= 1 and outcomes[("screenshot", "ok")] >= 1, report
        assert outcomes[("bad start", "refused")] == seen["bad start"] > 10, report  # every bad one refused
        assert outcomes[("stop", "ok")] == seen["stop"] and outcomes[("close_workspace", "ok")] == seen["close_workspace"]

        await w.close_workspace("ws-user-alice")
        await settle(w, 1)
        assert w.stats().active == () and w.get_load() == 0

        async def none_registered() -> bool:
            return not (started & await registered_clients(alice))

        deadline = time.monotonic() + 15
        while not await none_registered():
            assert time.monotonic() < deadline, started & await registered_clients(alice)
            await asyncio.sleep(0.5)
        print(f"{OPERATIONS} operations (seed {SEED}) in {time.monotonic() - t0:.1f}s: {report}; refusals: {dict(refusals)}")
