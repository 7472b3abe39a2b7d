"""Browser context settings per worker, by flag/env and by Hypha's built-in names, checked in
the page (issue 19: user agent, locale, time zone, colour scheme, device scale factor, viewport)."""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

import pytest

from pathlib import Path

if TYPE_CHECKING:
    from aiohttp import web

from browser_worker import BrowserWorker, WorkerError, WorkerSettings
from browser_worker.errors import ConfigError

from ._support import serving, web_app_config

PROBE = """() => ({
  ua: navigator.userAgent, lang: navigator.language,
  tz: Intl.DateTimeFormat().resolvedOptions().timeZone,
  dark: matchMedia('(prefers-color-scheme: dark)').matches,
  dpr: devicePixelRatio, w: innerWidth, h: innerHeight,
})"""

#: What an operator of Hypha's built-in worker has set (its PLAYWRIGHT_*/HYPHA_* names).
BUILT_IN_ENV = {
    "PLAYWRIGHT_USER_AGENT": "HyphaProbe/1.0", "PLAYWRIGHT_LOCALE": "de-DE",
    "PLAYWRIGHT_TIMEZONE_ID": "Asia/Tokyo", "PLAYWRIGHT_COLOR_SCHEME": "dark",
    "PLAYWRIGHT_DEVICE_SCALE_FACTOR": "2", "PLAYWRIGHT_VIEWPORT_WIDTH": "640",
    "PLAYWRIGHT_VIEWPORT_HEIGHT": "360", "HYPHA_MAX_BROWSER_SESSIONS": "3",
}


def test_the_built_in_worker_s_variables_are_read_and_ours_win() -> None:
    s = WorkerSettings.from_env(BUILT_IN_ENV)
    assert (s.user_agent, s.locale, s.timezone_id, s.color_scheme, s.device_scale_factor,
            s.viewport_width, s.viewport_height, s.max_sessions) == (
        "HyphaProbe/1.0", "de-DE", "Asia/Tokyo", "dark", 2.0, 640, 360, 3)
    ours = WorkerSettings.from_env({**BUILT_IN_ENV, "BROWSER_WORKER_MAX_SESSIONS": "7", "BROWSER_WORKER_LOCALE": "fr-FR"})
    assert (ours.max_sessions, ours.locale) == (7, "fr-FR")


@pytest.mark.parametrize("env, message", [
    ({"PLAYWRIGHT_COLOR_SCHEME": "purple"}, "color_scheme must be light, dark or no-preference, got 'purple'"),
    ({"BROWSER_WORKER_DEVICE_SCALE_FACTOR": "9"}, "device_scale_factor must be between 0.25 and 4, got 9.0"),
    ({"BROWSER_WORKER_TIMEZONE": "../etc"}, "timezone_id must be an IANA name like Europe/Berlin, got '../etc'"),
])
def test_bad_values_name_the_setting_and_the_rule(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        WorkerSettings.from_env(env)
    assert str(err.value) == message


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", png[16:24])


@pytest.mark.e2e
async def test_every_page_gets_the_context_settings_warm_pages_included() -> None:
    settings = WorkerSettings.from_env(BUILT_IN_ENV, pool_size=1, python_pool_size=0)
    async with BrowserWorker(settings) as worker:
        for _ in range(2):  # the first start takes the warm context made at open, the second a new one
            sid = await worker.start(web_app_config("data:text/html,<p>probe</p>"))
            try:
                got = await worker.execute(sid, PROBE)
                assert got == {"ua": "HyphaProbe/1.0", "lang": "de-DE", "tz": "Asia/Tokyo", "dark": True,
                               "dpr": 2, "w": 640, "h": 360}
                assert png_size(await worker.take_screenshot(sid)) == (1280, 720)  # 640×360 at scale 2
            finally:
                await worker.stop(sid)


@pytest.mark.e2e
async def test_defaults_leave_chromium_s_own_values(worker: BrowserWorker) -> None:
    sid = await worker.start(web_app_config("data:text/html,<p>probe</p>"))
    try:
        got = await worker.execute(sid, PROBE)
        assert "HeadlessChrome" in got["ua"] and got["dpr"] == 1 and (got["w"], got["h"]) == (1280, 720)
    finally:
        await worker.stop(sid)


@pytest.mark.e2e
async def test_manifest_extra_http_headers_reach_the_server(worker: BrowserWorker) -> None:
    from aiohttp import web

    seen: list[dict[str, str]] = []

    async def page(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.Response(text="<p>ok</p><script>fetch('/data')</script>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/data", page)
    async with serving(app) as base:
        sid = await worker.start(web_app_config(base + "/", extra_http_headers={"X-Team": "blue", "X-Trace": "t-1"}))
        try:
            await worker.execute(sid, "() => fetch('/data').then((r) => r.status)")
            assert len(seen) >= 2  # the page and its fetch
            assert all(h.get("X-Team") == "blue" and h.get("X-Trace") == "t-1" for h in seen), seen
        finally:
            await worker.stop(sid)


@pytest.mark.parametrize("headers, message", [
    ({"Authorization": "Bearer x"}, "manifest 'extra_http_headers': Authorization may not be set by an app "
                                    "(rule: no credentials or connection headers)"),
    ({"Bad Name": "x"}, "manifest 'extra_http_headers': 'Bad Name' is not a header name"),
    ({"X-A": "line\r\nInjected: 1"}, "manifest 'extra_http_headers': the value of X-A must be one line of at most 4096 characters"),
    (["X-A"], "manifest 'extra_http_headers' must be an object of header name/value pairs"),
])
def test_bad_extra_http_headers_are_refused_naming_the_rule(headers: object, message: str) -> None:
    from browser_worker._door.calls import Limits
    from browser_worker._door.start import parse_start
    from browser_worker._net.policy import NetworkPolicy
    from browser_worker.errors import WorkerError

    with pytest.raises(WorkerError) as err:
        parse_start(web_app_config("http://example.org/", extra_http_headers=headers), workspace=None,
                    limits=Limits(), net=NetworkPolicy())
    assert str(err.value) == message


#: A page whose own CSP forbids its inline script.
CSP_PAGE = "<p>csp</p><script>window.inlineRan = true</script>"


def csp_and_geo_app() -> "web.Application":
    from aiohttp import web

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=CSP_PAGE, content_type="text/html",
                            headers={"Content-Security-Policy": "script-src 'none'"})

    app = web.Application()
    app.router.add_get("/", page)
    return app


GEO = """() => new Promise((done) => navigator.geolocation.getCurrentPosition(
  (p) => done([p.coords.latitude, p.coords.longitude, p.coords.accuracy]), (e) => done(String(e.message))))"""


@pytest.mark.e2e
async def test_built_in_geolocation_and_bypass_csp_variables_reach_the_page(worker: BrowserWorker) -> None:
    env = {"PLAYWRIGHT_GEOLOCATION_LATITUDE": "52.52", "PLAYWRIGHT_GEOLOCATION_LONGITUDE": "13.405",
           "PLAYWRIGHT_GEOLOCATION_ACCURACY": "30", "PLAYWRIGHT_BYPASS_CSP": "true"}
    async with serving(csp_and_geo_app()) as base:
        # the shared worker (defaults): the page's CSP holds
        sid = await worker.start(web_app_config(base + "/"))
        try:
            assert await worker.execute(sid, "() => window.inlineRan === true") is False
        finally:
            await worker.stop(sid)
        settings = WorkerSettings.from_env(env, pool_size=1, python_pool_size=0)
        async with BrowserWorker(settings) as own:
            sid = await own.start(web_app_config(base + "/", permissions=["geolocation"]))
            try:
                assert await own.execute(sid, "() => window.inlineRan === true") is True
                assert await own.execute(sid, GEO) == [52.52, 13.405, 30]
            finally:
                await own.stop(sid)


@pytest.mark.e2e
async def test_ignore_https_errors_lets_a_self_signed_server_load(worker: BrowserWorker, tmp_path: "Path") -> None:
    async with serving(csp_and_geo_app(), tls_dir=tmp_path) as base:
        assert base.startswith("https://")
        with pytest.raises(WorkerError, match="ERR_CERT"):
            await worker.start(web_app_config(base + "/"))
        settings = WorkerSettings.from_env({"PLAYWRIGHT_IGNORE_HTTPS_ERRORS": "1"}, pool_size=1, python_pool_size=0)
        async with BrowserWorker(settings) as own:
            sid = await own.start(web_app_config(base + "/"))
            try:
                assert await own.execute(sid, "() => document.querySelector('p').textContent") == "csp"
            finally:
                await own.stop(sid)


def test_the_built_in_worker_s_service_variables_are_read() -> None:
    s = WorkerSettings.from_env({"HYPHA_VISIBILITY": "protected", "HYPHA_IN_DOCKER": "true"})
    assert (s.visibility, s.in_docker) == ("protected", True)
    worker = BrowserWorker(s)
    assert worker.in_docker and "--no-sandbox" in worker.settings.chromium_args
    assert worker.get_worker_service()["config"]["visibility"] == "protected"
    with pytest.raises(ConfigError, match="visibility must be public or protected, got 'secret'"):
        WorkerSettings.from_env({"HYPHA_VISIBILITY": "secret"})
    with pytest.raises(ConfigError, match="geolocation_latitude and geolocation_longitude go together"):
        WorkerSettings.from_env({"PLAYWRIGHT_GEOLOCATION_LATITUDE": "1"})
    with pytest.raises(ConfigError, match="geolocation_latitude must be between -90 and 90, got 91.0"):
        WorkerSettings.from_env({"PLAYWRIGHT_GEOLOCATION_LATITUDE": "91", "PLAYWRIGHT_GEOLOCATION_LONGITUDE": "0"})


@pytest.mark.e2e
async def test_an_app_s_own_context_settings_reach_its_page_only(worker: BrowserWorker, tmp_path: Path) -> None:
    """Per app, in the manifest: the app gets a context of its own with them; the next app gets
    the worker's again (nothing leaks into the warm pool), and the contexts are back to baseline."""
    from ._support import settle

    await settle(worker)
    baseline = worker.context_count()
    own = {"user_agent": "AppAgent/2.0", "locale": "fr-FR", "timezone_id": "America/New_York",
           "color_scheme": "dark", "geolocation": {"latitude": -33.87, "longitude": 151.21},
           "bypass_csp": True, "ignore_https_errors": True, "permissions": ["geolocation"]}
    async with serving(csp_and_geo_app(), tls_dir=tmp_path) as base:
        sid = await worker.start(web_app_config(base + "/", **own))
        try:
            got = await worker.execute(sid, PROBE)
            assert (got["ua"], got["lang"], got["tz"], got["dark"]) == ("AppAgent/2.0", "fr-FR", "America/New_York", True)
            assert await worker.execute(sid, "() => window.inlineRan === true") is True  # CSP bypassed
            assert (await worker.execute(sid, GEO))[:2] == [-33.87, 151.21]
        finally:
            await worker.stop(sid)
        with pytest.raises(WorkerError, match="ERR_CERT"):  # the next app: the worker's settings
            await worker.start(web_app_config(base + "/"))
    sid = await worker.start(web_app_config("data:text/html,<p>probe</p>"))
    try:
        got = await worker.execute(sid, PROBE)
        assert "HeadlessChrome" in got["ua"] and got["lang"] != "fr-FR" and got["dark"] is False
    finally:
        await worker.stop(sid)
    await settle(worker)
    assert worker.context_count() == baseline


@pytest.mark.parametrize("manifest, message", [
    ({"user_agent": "a\nb"}, "manifest 'user_agent' must be one printable line"),
    ({"locale": "../x"}, "manifest 'locale' must be a language tag like de-DE"),
    ({"timezone_id": "Mars/Base"}, None),  # well-formed: Chromium decides whether it knows it
    ({"timezone_id": "a b"}, "manifest 'timezone_id' must be an IANA name"),
    ({"color_scheme": "purple"}, "manifest 'color_scheme' must be one of light, dark, no-preference"),
    ({"geolocation": {"latitude": 91, "longitude": 0}}, "manifest 'geolocation.latitude' must be a number from -90 to 90"),
    ({"geolocation": {"latitude": 1}}, "manifest 'geolocation' must be an object with 'latitude', 'longitude'"),
    ({"bypass_csp": "yes"}, "manifest 'bypass_csp' must be true or false"),
    ({"ignore_https_errors": 1}, "manifest 'ignore_https_errors' must be true or false"),
])
def test_bad_context_settings_in_a_manifest_name_the_field(manifest: dict, message: str | None) -> None:
    from browser_worker._door.manifest import context_settings

    if message is None:
        assert context_settings(manifest) == {"timezone_id": "Mars/Base"}
        return
    with pytest.raises(WorkerError, match=message):
        context_settings(manifest)


@pytest.mark.e2e
async def test_the_gpu_profile_launches_chromium_with_webgpu() -> None:
    """``--gpu``: the built-in's WebGPU flags; a page then gets a WebGPU adapter (it gets none
    without them), and JSPI (``WebAssembly.Suspending``) is there either way."""
    from aiohttp import web

    async def page(_: web.Request) -> web.Response:
        return web.Response(text="<p>gpu</p>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    probe = "async () => [!!(navigator.gpu && await navigator.gpu.requestAdapter()), typeof WebAssembly.Suspending]"
    async with serving(app) as base:
        seen = {}
        for gpu in (False, True):
            async with BrowserWorker(WorkerSettings.from_env(gpu=gpu, pool_size=1, python_pool_size=0)) as w:
                sid = await w.start(web_app_config(base + "/"))
                try:
                    seen[gpu] = await w.execute(sid, probe)
                finally:
                    await w.stop(sid)
    assert seen == {False: [False, "function"], True: [True, "function"]}, seen
