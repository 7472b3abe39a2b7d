"""Helpers the benchmark scripts share: timing, percentiles, waiting for registration, memory."""

from __future__ import annotations

import asyncio
import logging
import os
import statistics
import time
from typing import Any, Awaitable, Callable

import psutil


def quiet_logs() -> None:
    logging.basicConfig(level=logging.WARNING)
    for noisy in ("websocket-client", "RPC", "hypha", "hypha.workers.browser"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summarize(name: str, samples: list[float]) -> dict[str, Any]:
    return {"name": name, "runs": len(samples), "p50_ms": statistics.median(samples),
            "p90_ms": pct(samples, 0.9), "min_ms": min(samples), "max_ms": max(samples)}


async def timed(fn: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    """Milliseconds an awaitable took, and its result."""
    t = time.perf_counter()
    result = await fn()
    return (time.perf_counter() - t) * 1000, result


async def wait_registered(client: Any, service_id: str, timeout: float = 60) -> None:
    """Poll until the server knows ``service_id`` (one get_service round trip when it does)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await client.get_service(service_id)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.005)


def chromium_pss_mb() -> float:
    """Proportional set size of every Chromium process under this one (shared pages split)."""
    total = 0
    for proc in psutil.Process().children(recursive=True):
        try:
            if "chrom" in os.path.basename(proc.cmdline()[0]):
                total += proc.memory_full_info().pss
        except (psutil.Error, IndexError):
            continue
    return total / 2**20


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def chromium_cpu_seconds() -> float:
    """CPU-seconds (user + system) used so far by the live Chromium processes under this one."""
    total = 0.0
    for proc in psutil.Process().children(recursive=True):
        try:
            if "chrom" in os.path.basename(proc.cmdline()[0]):
                times = proc.cpu_times()
                total += times.user + times.system
        except (psutil.Error, IndexError):
            continue
    return total
