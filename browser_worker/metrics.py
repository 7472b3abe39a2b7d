"""Health and Prometheus metrics, read from the worker's live state at scrape time.

Served by an optional aiohttp endpoint (``--metrics-port``): ``/health`` (JSON, 200 when the
browser is up, 503 otherwise) and ``/metrics`` (Prometheus text format via prometheus-client).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from browser_worker._engine.session import SessionStatus

if TYPE_CHECKING:
    from browser_worker.worker import BrowserWorker

START_BUCKETS = (0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)


class WorkerMetrics:
    def __init__(self, worker: "BrowserWorker") -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.starts = Counter("browser_worker_starts", "Session starts requested", registry=r)
        self.failures = Counter("browser_worker_start_failures", "Session starts that failed", registry=r)
        self.start_seconds = Histogram(
            "browser_worker_start_seconds", "Time from start call to app booted", buckets=START_BUCKETS, registry=r
        )
        sessions = Gauge("browser_worker_sessions", "Live sessions by state", ["state"], registry=r)
        for state in (SessionStatus.STARTING, SessionStatus.RUNNING, SessionStatus.STOPPING, SessionStatus.FAILED):
            sessions.labels(state.value).set_function(
                lambda s=state: sum(1 for x in worker.sessions.live_sessions() if x.status is s)
            )
        Gauge("browser_worker_capacity", "Maximum concurrent sessions", registry=r).set_function(
            lambda: worker.settings.max_sessions
        )
        Gauge("browser_worker_queue_length", "Starts waiting for a free slot", registry=r).set_function(
            lambda: worker.pool.waiting if worker.is_open else 0
        )
        Gauge("browser_worker_warm_contexts", "Warm contexts ready in the pool", registry=r).set_function(
            lambda: worker.pool.idle if worker.is_open else 0
        )
        Gauge("browser_worker_browser_restarts", "Chromium relaunches after a crash", registry=r).set_function(
            lambda: worker.host.restarts if worker.is_open else 0
        )
        Gauge("browser_worker_browser_recycles", "Chromium recycles after --recycle-after sessions", registry=r).set_function(
            lambda: worker.host.recycles if worker.is_open else 0
        )
        Gauge("browser_worker_screencasts", "Screencasts running for watched sessions", registry=r).set_function(
            lambda: worker.engine.live.active_screencasts
        )
        Gauge("browser_worker_watchers", "Open watch streams (viewers)", registry=r).set_function(
            lambda: worker.engine.live.watches.count
        )
        Gauge("browser_worker_log_streams", "Open stream_logs streams", registry=r).set_function(
            lambda: worker.engine.live.log_streams.count
        )
        Gauge("browser_worker_browser_up", "1 while a browser is connected", registry=r).set_function(
            lambda: 1 if worker.is_open and worker.host.alive else 0
        )

    # The engine's StartObserver: it counts starts without knowing these metrics exist.
    def start_requested(self) -> None:
        self.starts.inc()

    def start_failed(self) -> None:
        self.failures.inc()

    def start_finished(self, seconds: float) -> None:
        self.start_seconds.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def health(worker: "BrowserWorker") -> dict[str, Any]:
    up = worker.is_open and worker.host.alive
    return {
        "status": "ok" if up else "degraded",
        "browser_up": up,
        "sessions": len(worker.sessions.live_sessions()),
        "capacity": worker.settings.max_sessions,
        "load": worker.get_load(),
        "screencasts": worker.engine.live.active_screencasts,
    }


async def serve_metrics(worker: "BrowserWorker", host: str, port: int) -> web.AppRunner:
    """Start the /health and /metrics endpoint; the caller cleans up the returned runner."""

    async def get_health(_: web.Request) -> web.Response:
        data = health(worker)
        return web.json_response(data, status=200 if data["browser_up"] else 503)

    async def get_metrics(_: web.Request) -> web.Response:
        return web.Response(body=worker.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/health", get_health)
    app.router.add_get("/metrics", get_metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
