"""execute and take_screenshot on hostile pages and values (issue 20's hostile-input run)."""

from __future__ import annotations

import asyncio

import pytest

from browser_worker import BrowserWorker, WorkerError
from browser_worker.errors import PageStuckError

from ._support import settle, web_app_config

pytestmark = pytest.mark.e2e

PAGE = ("data:text/html,<p id=shown>hi</p><p id=hidden style='display:none'>no</p>"
        "<div id=empty style='width:0;height:0'></div>")


async def test_a_spinning_page_answers_by_the_deadline_is_reported_stuck_and_stops(worker: BrowserWorker) -> None:
    await settle(worker)
    baseline = worker.context_count()
    sid = await worker.start(web_app_config(PAGE))
    # The deadline must answer even though the page's main thread never yields again.
    with pytest.raises(PageStuckError, match=r"within 2s and the page's main thread no longer answers"):
        await asyncio.wait_for(worker.execute(sid, "while (true) {}", timeout=2), 20)
    info = await worker.get_session_info(sid)
    assert info["status"] == "running" and info["stuck"] is True
    errors = [i["content"] for i in (await worker.get_logs(sid, type="error"))["items"]]
    assert any("no longer answers" in e for e in errors), errors
    await asyncio.wait_for(worker.stop(sid), 20)
    assert not (sid in worker.stats().active)
    await settle(worker)
    assert worker.context_count() == baseline


async def test_a_slow_script_is_not_called_stuck(worker: BrowserWorker) -> None:
    sid = await worker.start(web_app_config(PAGE))
    try:
        with pytest.raises(WorkerError, match="did not finish within 1s") as err:
            await worker.execute(sid, "new Promise(() => {})", timeout=1)
        assert not isinstance(err.value, PageStuckError)
        assert "stuck" not in await worker.get_session_info(sid)
        assert await worker.execute(sid, "1 + 1") == 2
    finally:
        await worker.stop(sid)


@pytest.mark.parametrize("script, shown", [
    ("() => { throw {code: 7} }", 'Object {"code":7}'),
    ("() => { throw 'plain words' }", 'string "plain words"'),
    ("() => { throw 42 }", "number 42"),
    ("() => { throw undefined }", "undefined undefined"),
    ("async () => { throw {reason: 'async'} }", 'Object {"reason":"async"}'),
])
async def test_a_thrown_value_that_is_not_an_error_is_named(worker: BrowserWorker, script: str, shown: str) -> None:
    sid = await worker.start(web_app_config(PAGE))
    try:
        with pytest.raises(WorkerError) as err:
            await worker.execute(sid, script)
        assert str(err.value) == f"Failed to execute script: the script threw {shown}"
    finally:
        await worker.stop(sid)


async def test_maps_and_sets_come_back_as_json(worker: BrowserWorker) -> None:
    sid = await worker.start(web_app_config(PAGE))
    try:
        assert await worker.execute(sid, "new Map([['a', 1], ['b', [2]]])") == {"a": 1, "b": [2]}
        assert await worker.execute(sid, "new Set([1, 'x', 1])") == [1, "x"]
        assert await worker.execute(sid, "new Map([[{k: 1}, 'v']])") == [[{"k": 1}, "v"]]
        assert await worker.execute(sid, "({m: new Map([[1, new Set([2])]]), n: null})") == {"m": {"1": [2]}, "n": None}
    finally:
        await worker.stop(sid)


@pytest.mark.parametrize("selector, shown", [
    ("#hidden", "is not rendered (display: none?)"),
    ("#empty", "has no area (0×0 px)"),
])
async def test_a_screenshot_of_an_invisible_element_fails_at_once(worker: BrowserWorker, selector: str, shown: str) -> None:
    sid = await worker.start(web_app_config(PAGE))
    try:
        # A 60 s element timeout: failing well before it shows the check does not wait for it.
        with pytest.raises(WorkerError) as err:
            await asyncio.wait_for(worker.take_screenshot(sid, selector=selector, timeout=60), 15)
        assert str(err.value) == f"Screenshot failed: the element matching {selector!r} {shown}"
        assert (await worker.take_screenshot(sid, selector="#shown"))[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        await worker.stop(sid)


async def test_a_library_sized_script_runs_and_a_larger_one_is_refused_naming_the_rule(worker: BrowserWorker) -> None:
    library = "var big = '" + "x" * (4 * 1024 * 1024) + "'; big.length"  # bigger than plotly.min.js
    sid = await worker.start(web_app_config(PAGE))
    try:
        assert await worker.execute(sid, library) == 4 * 1024 * 1024
        with pytest.raises(WorkerError) as err:
            await worker.execute(sid, "'" + "y" * (16 * 1024 * 1024) + "'")
        assert str(err.value) == (f"script is {16 * 1024 * 1024 + 2} characters (rule: at most 16 MiB; "
                                  "load a larger library from a URL in the page instead)")
    finally:
        await worker.stop(sid)
