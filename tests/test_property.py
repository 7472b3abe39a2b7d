"""Issue 11, acceptance 1: 300 seeded random operations — good and bad starts, stops,
close_workspace, execute, screenshots, get_logs, with random timing and overlap — against a real
Hypha server end with no session, no load, the warm contexts only, and no app service left."""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from typing import Any

import pytest

from browser_worker import BrowserWorker, WorkerError

from .test_lifecycle import APP_JS, bad_configs, registered_clients, settle

pytestmark = pytest.mark.e2e

OPERATIONS = 300
SEED = int(os.environ.get("BROWSER_WORKER_TEST_SEED", "20261126"))


async def test_random_operations_end_at_baseline(
    settings: Any, hypha_server: Any, alice: Any, window_config: Any
) -> None:
    rng = random.Random(SEED)
    bad = list(bad_configs(hypha_server, window_config).values())
    async with BrowserWorker(settings.with_(max_sessions=4, pool_size=1, queue_timeout=2, start_timeout=10)) as w:
        await settle(w, 1)
        known: list[str] = ["ws-user-alice/never-started"]
        started: set[str] = set()
        seen: Counter[str] = Counter()
        unexpected: list[str] = []

        def pick() -> str:
            return rng.choice(known)

        async def good_start() -> None:
            cfg = window_config(APP_JS)
            known.append(cfg["id"])
            started.add(cfg["client_id"])
            await w.start(cfg)

        async def start_then_stop() -> None:
            cfg = window_config(APP_JS)
            known.append(cfg["id"])
            started.add(cfg["client_id"])
            task = asyncio.ensure_future(w.start(cfg))
            await asyncio.sleep(rng.uniform(0, 0.4))
            await w.stop(cfg["id"])
            await asyncio.gather(task, return_exceptions=True)

        operations = {
            "good start": (good_start, 6),
            "start then stop": (start_then_stop, 3),
            "bad start": (lambda: w.start(rng.choice(bad)[0]), 4),
            "stop": (lambda: w.stop(pick()), 4),
            "close_workspace": (lambda: w.close_workspace("ws-user-alice"), 1),
            "execute": (lambda: w.execute(pick(), rng.choice(["1 + 1", "new Promise(() => {})"]), timeout=0.5), 3),
            "screenshot": (lambda: w.take_screenshot(pick(), selector=rng.choice([None, "#none"]), timeout=0.5), 2),
            "get_logs": (lambda: w.get_logs(pick(), offset=rng.choice([0, 3, -1]), limit=rng.choice([None, 5])), 3),
        }
        names = list(operations)
        weights = [operations[n][1] for n in names]

        async def run(name: str) -> None:
            seen[name] += 1
            try:
                await operations[name][0]()
            except WorkerError:
                pass  # refusals and failures are expected; they must be WorkerErrors
            except Exception as exc:
                unexpected.append(f"{name}: {type(exc).__name__}: {exc}")

        t0 = time.monotonic()
        in_flight: set[asyncio.Future[None]] = set()
        for _ in range(OPERATIONS):
            in_flight.add(asyncio.ensure_future(run(rng.choices(names, weights)[0])))
            await asyncio.sleep(rng.uniform(0, 0.05))
            if len(in_flight) >= 6:
                _, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
        await asyncio.wait_for(asyncio.gather(*in_flight), 120)
        assert unexpected == [], unexpected
        assert seen["good start"] > 20 and seen["bad start"] > 10, seen

        await w.close_workspace("ws-user-alice")
        await settle(w, 1)
        assert w.sessions.live_sessions() == [] and w.get_load() == 0

        async def none_registered() -> bool:
            return not (started & await registered_clients(alice))

        deadline = time.monotonic() + 15
        while not await none_registered():
            assert time.monotonic() < deadline, started & await registered_clients(alice)
            await asyncio.sleep(0.5)
        print(f"{OPERATIONS} operations (seed {SEED}) in {time.monotonic() - t0:.1f}s: {dict(seen)}")
