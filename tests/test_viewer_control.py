"""A person takes control in the viewer (issue 26): in real Chromium, the owner clicks a button in
the live image and types ``héllo 日本`` into a text box, at device scale factor 1 and 2, and the
page has both (checked by snapshot). Another tenant's viewer cannot take control; while the
person holds it an agent's ``act`` is refused naming them, and after release it succeeds."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright

from browser_worker import BrowserWorker
from browser_worker._browser import launch_chromium
from browser_worker._control import ControlBusyError

from ._support import settle

pytestmark = pytest.mark.e2e

APP = """
document.body.style.margin = "0";
document.body.innerHTML = `
  <button id="go" style="position:absolute; left:420px; top:160px; width:220px; height:90px; font-size:24px">Press me</button>
  <p id="count" style="position:absolute; left:420px; top:270px; font-size:22px">clicked 0</p>
  <input id="box" aria-label="Note" style="position:absolute; left:420px; top:340px; width:320px; height:40px; font-size:22px">`;
let n = 0;
document.getElementById("go").onclick = () => { n += 1; document.getElementById("count").textContent = "clicked " + n; };
await api.export({ setup() {} });
"""
AGENT = {"ws": "ws-user-alice", "user": {"id": "alice-bot", "roles": []}}
TEXT = "héllo 日本"


async def centre(worker: BrowserWorker, sid: str, element: str) -> tuple[float, float]:
    """Where ``element`` is in the app's page, in CSS pixels of its viewport."""
    x, y = await worker.execute(sid, f"() => {{ const r = document.getElementById('{element}')"
                                     ".getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; }")
    return x, y


async def on_screen(viewer: Page, x: float, y: float) -> tuple[float, float]:
    """The point of the viewer's live image that shows the page's (x, y), computed here from the
    image's box and the page's CSS size the frames report."""
    return tuple(await viewer.evaluate("""([x, y]) => {
        const box = document.getElementById('frame').getBoundingClientRect(), css = window.__viewer.css;
        const s = Math.min(box.width / css.width, box.height / css.height);
        return [box.left + (box.width - css.width * s) / 2 + x * s, box.top + (box.height - css.height * s) / 2 + y * s];
    }""", [x, y]))


async def signed_in(browser: Any, url: str, token: str, size: tuple[int, int]) -> Page:
    page = await browser.new_page(viewport={"width": size[0], "height": size[1]})
    await page.goto(url)
    await page.fill("#token", token)
    await page.click("#connect")
    return page


@pytest.mark.parametrize("scale", [1, 2])
async def test_the_owner_takes_control_clicks_and_types_through_the_live_image(
        hypha_server: Any, alice_token: str, served: Any, worker: BrowserWorker, window_config: Any,
        scale: int) -> None:
    config = window_config(APP, device_scale_factor=scale)
    sid = await worker.start(config)
    bob_token = await hypha_server.user_token("bob")
    url = served.viewer_url + "#session=" + sid
    async with async_playwright() as pw:
        browser, _ = await launch_chromium(pw)
        try:
            viewer = await signed_in(browser, url, alice_token, (1280, 800))
            await viewer.wait_for_function("() => window.__viewer.css && window.__viewer.frames.length >= 1",
                                           timeout=15000)
            assert await viewer.evaluate("() => window.__viewer.css") == {"width": 1280, "height": 720}
            await viewer.click("#take")
            await viewer.wait_for_function(
                "() => document.getElementById('control-state').textContent === 'You are in control'", timeout=10000)

            await viewer.mouse.click(*await on_screen(viewer, *await centre(worker, sid, "go")))
            await viewer.mouse.click(*await on_screen(viewer, *await centre(worker, sid, "box")))
            await viewer.keyboard.type(TEXT)
            await viewer.wait_for_function(f"() => window.__viewer.sentText >= {len(TEXT)}", timeout=15000)
            snapshot = ""
            for _ in range(50):
                snapshot = (await worker.snapshot(sid))["snapshot"]
                if "clicked 1" in snapshot and TEXT in snapshot:
                    break
                await viewer.wait_for_timeout(100)
            assert "clicked 1" in snapshot and f'textbox "Note"' in snapshot and TEXT in snapshot, snapshot

            # While the person holds control, an agent is refused, naming them.
            with pytest.raises(ControlBusyError, match=r"controlled by alice@ws-user-alice \(person\)"):
                await worker.act(sid, [{"action": "click", "role": "button", "name": "Press me"}], context=AGENT)
            # Another tenant's viewer cannot take it: one sentence, no traceback, no path.
            other = await signed_in(browser, url, bob_token, (1280, 800))
            await other.wait_for_function(
                "() => document.getElementById('status').textContent.includes('Permission denied')", timeout=15000)
            await other.click("#take")
            shown = await other.text_content("#status")
            assert shown.startswith("Permission denied: bob (tenant, workspace ws-user-bob) cannot "), shown
            assert "Traceback" not in shown and ".py" not in shown
            assert await other.text_content("#control-state") != "You are in control"
            await other.close()

            if scale == 1 and os.environ.get("VIEWER_PICTURES"):
                out = Path(os.environ["VIEWER_PICTURES"])
                await viewer.screenshot(path=str(out / "viewer-control-1280x800.png"))
                await viewer.set_viewport_size({"width": 1920, "height": 1080})
                await viewer.wait_for_timeout(1000)
                await viewer.screenshot(path=str(out / "viewer-control-1920x1080.png"))

            await viewer.click("#release")
            await viewer.wait_for_function(
                "() => document.getElementById('take').classList.contains('hidden') === false", timeout=10000)
            done = await worker.act(sid, [{"action": "click", "role": "button", "name": "Press me"}], context=AGENT)
            assert done["ok"] and "clicked 2" in (await worker.snapshot(sid))["snapshot"]
            actions = [i["content"] for i in (await worker.get_logs(sid, type="action"))["items"]]
            assert actions[0] == "alice@ws-user-alice (person) took control"
            inputs = [a for a in actions if ": input " in a]
            assert inputs and all(a.startswith("alice@ws-user-alice (person): input ") for a in inputs)
            typed = sum(int(n) for a in inputs for n in re.findall(r"text \((\d+) characters\)", a))
            assert typed == len(TEXT), inputs  # every character arrived, each burst logged by length
            assert not any(TEXT in a for a in actions)
        finally:
            await browser.close()
            await worker.stop(sid)
    await settle(worker)  # no session, slot or extra context left
