"""Issue 19, acceptance 5: ImJoy plugins, in the shapes of the ImJoy project's own plugin
templates, installed and started through a real Hypha server.

- an ``iframe`` plugin whose ``<script>`` becomes the entry ``main.js`` (the server extracts it):
  it runs like a window app, its ``setup()`` is called after ``api.export`` as ImJoy does, and
  ImJoy's UI calls (``api.alert``, ``api.showMessage``, …) become lines in the session's logs;
- a ``web-python`` plugin doing ``from imjoy import api`` (and ``imjoy_rpc``) + ``api.export``.
"""

from __future__ import annotations

from typing import Any

import pytest

from browser_worker import BrowserWorker

pytestmark = pytest.mark.e2e

#: ImJoy's "iframe" plugin template (ImJoy's own default source, with a service to check).
IFRAME_PLUGIN = """<docs lang="markdown">
[TODO: write documentation for this plugin.]
</docs>

<config lang="json">
{
  "name": "Untitled Plugin",
  "type": "iframe",
  "tags": [],
  "ui": "",
  "version": "0.1.0",
  "cover": "",
  "description": "[TODO: describe this plugin with one sentence.]",
  "icon": "extension",
  "inputs": null,
  "outputs": null,
  "api_version": "0.1.8",
  "env": "",
  "permissions": [],
  "requirements": [],
  "dependencies": []
}
</config>

<script lang="javascript">
class ImJoyPlugin {
  async setup() {
    this.ready = true
    api.log('initialized')
  }

  async run(ctx) {
    api.alert('hello world.')
    await api.showMessage('shown', 3)
    const sure = await api.confirm('sure?')
    return { ready: this.ready === true, sure }
  }
}

api.export(new ImJoyPlugin())
</script>

<window lang="html">
  <div>
    <p>Hello World</p>
  </div>
</window>

<style lang="css">
</style>
"""

#: ImJoy's "web-python" plugin template.
PYTHON_PLUGIN = """<config lang="json">
{
  "name": "Untitled Plugin",
  "type": "web-python",
  "version": "0.1.0",
  "description": "[TODO: describe this plugin with one sentence.]",
  "tags": [],
  "ui": "",
  "cover": "",
  "inputs": null,
  "outputs": null,
  "flags": [],
  "icon": "extension",
  "api_version": "0.1.8",
  "env": "",
  "permissions": [],
  "requirements": ["imjoy-rpc"],
  "dependencies": []
}
</config>

<script lang="python">
from imjoy import api
from imjoy_rpc import api as rpc_api
from imjoy_rpc.hypha import connect_to_server

class ImJoyPlugin():
    async def setup(self):
        self.ready = True
        await api.log('initialized')

    async def run(self, ctx):
        api.showMessage('python says hi')
        await api.alert('hello world.')
        return {"ready": self.ready, "same": rpc_api is api, "connect": callable(connect_to_server)}

api.export(ImJoyPlugin())
</script>
"""


async def _lines(worker: BrowserWorker, session_id: str) -> list[str]:
    return [item["content"] for item in (await worker.get_logs(session_id))["items"]]


async def test_imjoy_iframe_plugin_with_a_script_entry_runs_like_a_window_app(
        apps: Any, alice: Any, worker: BrowserWorker) -> None:
    app = await apps.install(source=IFRAME_PLUGIN, overwrite=True, timeout=60)
    session = await apps.start(app["id"], wait_for_service="default", timeout=60)
    try:
        svc = await alice.get_service(session["id"] + ":default")
        assert await svc.run({}) == {"ready": True, "sure": True}  # setup() ran before
        lines = await _lines(worker, session["id"])
        for expected in ("initialized", "[alert] hello world.", "[message] shown 3", "[confirm] sure?"):
            assert sum(line.endswith("] " + expected) for line in lines) == 1, (expected, "\n".join(lines))
    finally:
        await apps.stop(session["id"])


async def test_an_iframe_script_that_throws_at_boot_fails_naming_the_error(apps: Any) -> None:
    source = IFRAME_PLUGIN.replace("api.export(new ImJoyPlugin())", "throw new Error('plugin broke at boot')")
    with pytest.raises(Exception, match="plugin broke at boot"):
        app = await apps.install(source=source, overwrite=True, timeout=60)
        await apps.start(app["id"], wait_for_service="default", timeout=60)


async def test_imjoy_web_python_plugin_imports_imjoy_and_exports(
        apps: Any, alice: Any, worker: BrowserWorker) -> None:
    app = await apps.install(source=PYTHON_PLUGIN, overwrite=True, timeout=120)
    session = await apps.start(app["id"], wait_for_service="default", timeout=120)
    try:
        svc = await alice.get_service(session["id"] + ":default")
        assert await svc.run({}) == {"ready": True, "same": True, "connect": True}
        lines = await _lines(worker, session["id"])
        for expected in ("initialized", "[message] python says hi", "[alert] hello world.",
                         "requirement 'imjoy-rpc': provided by this worker (over hypha-rpc)"):
            assert sum(line.endswith("] " + expected) for line in lines) == 1, (expected, "\n".join(lines))
    finally:
        await apps.stop(session["id"])


async def test_imjoy_ui_calls_in_a_web_worker_app_are_log_lines(worker: BrowserWorker, window_config: Any) -> None:
    script = "await api.showStatus('working'); api.showProgress(50); await api.export({ ping() { return 'pong'; } });"
    sid = await worker.start(window_config(script, type="web-worker"))
    try:
        lines = await _lines(worker, sid)
        for expected in ("[status] working", "[progress] 50%"):
            assert sum(line.endswith("] " + expected) for line in lines) == 1, (expected, "\n".join(lines))
    finally:
        await worker.stop(sid)


async def test_an_iframe_script_given_directly_runs_in_a_window_page(worker: BrowserWorker, window_config: Any) -> None:
    sid = await worker.start(window_config("api.alert('direct'); await api.export({ ping() { return 'pong'; } });",
                                           type="iframe"))
    try:
        assert await worker.execute(sid, "() => document.querySelector('meta[name=browser-worker-bundle]').content") == "window"
        assert any(line.endswith("] [alert] direct") for line in await _lines(worker, sid))
    finally:
        await worker.stop(sid)
