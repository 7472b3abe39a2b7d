"""Health and Prometheus metrics, read from the engine's stats snapshot at scrape time.

Served by an optional aiohttp endpoint (``--metrics-port``): ``/health`` (JSON, 200 when the
browser is up, 503 otherwise) and ``/metrics`` (Prometheus text format via prometheus-client).
"""

from __future__ import annotations

from typing import Any, Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from browser_worker._session import SessionStatus, WorkerStats

START_BUCKETS = (0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0)

Stats = Callable[[], WorkerStats]


class WorkerMetrics:
    """The engine's start observer (it counts starts) and gauges read from its stats."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.starts = Counter("browser_worker_starts", "Session starts requested", registry=r)
        self.failures = Counter("browser_worker_start_failures", "Session starts that failed", registry=r)
        self.start_seconds = Histogram(
            "browser_worker_start_seconds", "Time from start call to app booted", buckets=START_BUCKETS, registry=r
        )
        self._stats: Stats = WorkerStats

    def read_from(self, stats: Stats) -> None:
        """Register the gauges, each read from ``stats()`` when scraped."""
        self._stats = stats
        r = self.registry
        sessions = Gauge("browser_worker_sessions", "Live sessions by state", ["state"], registry=r)
        for state in (SessionStatus.STARTING, SessionStatus.RUNNING, SessionStatus.STOPPING, SessionStatus.FAILED):
            sessions.labels(state.value).set_function(lambda s=state.value: stats().by_status.get(s, 0))
        gauges: dict[str, tuple[str, Callable[[WorkerStats], float]]] = {
            "browser_worker_capacity": ("Maximum concurrent sessions", lambda x: x.capacity),
            "browser_worker_queue_length": ("Starts waiting for a free slot", lambda x: x.queue_length),
            "browser_worker_load": ("Sessions in use plus queued starts, over capacity (get_load(); "
                                    "what an autoscaler scales on)", lambda x: x.load),
            "browser_worker_warm_contexts": ("Warm contexts ready in the pool", lambda x: x.warm),
            "browser_worker_browser_restarts": ("Chromium relaunches after a crash", lambda x: x.browser_restarts),
            "browser_worker_browser_recycles": ("Chromium recycles after --recycle-after sessions",
                                                lambda x: x.browser_recycles),
            "browser_worker_screencasts": ("Screencasts running for watched sessions", lambda x: x.screencasts),
            "browser_worker_watchers": ("Open watch streams (viewers)", lambda x: x.watchers),
            "browser_worker_log_streams": ("Open stream_logs streams", lambda x: x.log_streams),
            "browser_worker_browser_up": ("1 while a browser is connected", lambda x: 1 if x.browser_up else 0),
        }
        for name, (doc, read) in gauges.items():
            Gauge(name, doc, registry=r).set_function(lambda read=read: read(stats()))

    # The engine's StartObserver: it counts starts without knowing these metrics exist.
    def start_requested(self) -> None:
        self.starts.inc()

    def start_failed(self) -> None:
        self.failures.inc()

    def start_finished(self, seconds: float) -> None:
        self.start_seconds.observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def health(self) -> dict[str, Any]:
        """What ``/health`` answers."""
        x = self._stats()
        return {
            "status": "ok" if x.browser_up else "degraded",
            "browser_up": x.browser_up,
            "sessions": len(x.active),
            "capacity": x.capacity,
            "load": x.load,
            "screencasts": x.screencasts,
        }


async def serve_metrics(metrics: WorkerMetrics, host: str, port: int) -> Any:
    """Start the /health and /metrics endpoint; the caller cleans up the returned runner."""
    from aiohttp import web  # only a serving process needs the web server

    async def get_health(_: web.Request) -> web.Response:
        data = metrics.health()
        return web.json_response(data, status=200 if data["browser_up"] else 503)

    async def get_metrics(_: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/health", get_health)
    app.router.add_get("/metrics", get_metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
