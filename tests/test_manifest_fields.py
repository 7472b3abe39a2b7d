"""Issue 19: manifest fields Hypha's built-in worker reads, each checked in the page, through a
real Hypha server (apps installed with their files, started by the server's controller)."""

from __future__ import annotations

from typing import Any

import pytest

from browser_worker import BrowserWorker

pytestmark = pytest.mark.e2e

STARTUP_APP = """<config lang="json">{"name": "Startup Script", "type": "window", "version": "0.1.0",
"startup_script": "%s"}</config>
<script lang="javascript">
api.export({ setup() {}, startedBy() { return window.__startedBy || null; } });
</script>
"""


async def test_startup_script_runs_in_the_page_after_load(apps: Any, alice: Any, worker: BrowserWorker) -> None:
    files = [{"path": "scripts/startup.js", "format": "text",
              "content": "window.__startedBy = 'the startup script'; console.log('startup ran at', location.pathname);"}]
    app = await apps.install(source=STARTUP_APP % "scripts/startup.js", files=files, overwrite=True, timeout=60)
    session = await apps.start(app["id"], wait_for_service="default", timeout=60)
    try:
        svc = await alice.get_service(session["id"] + ":default")
        assert await svc.startedBy() == "the startup script"
        logs = [i["content"] for i in (await worker.get_logs(session["id"]))["items"]]
        assert any("Running the startup script scripts/startup.js" in line for line in logs), logs
        assert any("startup ran at" in line for line in logs), logs
    finally:
        await apps.stop(session["id"])


async def test_a_missing_or_failing_startup_script_is_logged_and_the_app_runs(
        apps: Any, alice: Any, worker: BrowserWorker) -> None:
    for path, files, expected in (
        ("nowhere.js", [], "startup_script 'nowhere.js' could not be fetched"),
        ("bad.js", [{"path": "bad.js", "format": "text", "content": "throw new Error('startup went wrong')"}],
         "startup_script 'bad.js' failed: Failed to execute script: Error: startup went wrong"),
    ):
        app = await apps.install(source=STARTUP_APP % path, files=files, overwrite=True, timeout=60)
        session = await apps.start(app["id"], wait_for_service="default", timeout=60)
        try:
            svc = await alice.get_service(session["id"] + ":default")
            assert await svc.startedBy() is None  # the app itself runs
            errors = [i["content"] for i in (await worker.get_logs(session["id"], type="error"))["items"]]
            assert any(expected in line for line in errors), errors
        finally:
            await apps.stop(session["id"])


PYTHON_WITH_FILES = """<config lang="json">{"name": "Artifact Files", "type": "web-python", "version": "0.1.0",
"required_artifact_files": %s}</config>
<script lang="python">
import os
from hypha_rpc import api
import utils            # the file utils.py, on sys.path through the root
import helper           # lib/helper.py: a listed directory is on sys.path itself
from lib.sub import deep

def report():
    with open("/home/pyodide/app_files/lib/data.txt") as f:
        data = f.read()
    return {"utils": utils.VALUE, "helper": helper.VALUE, "deep": deep.VALUE, "data": data}

api.export({"report": report})
</script>
"""
ARTIFACT_FILES = [
    {"path": "utils.py", "content": "VALUE = 'utils'", "format": "text"},
    {"path": "lib/helper.py", "content": "VALUE = 'helper'", "format": "text"},
    {"path": "lib/sub/deep.py", "content": "VALUE = 'deep'", "format": "text"},
    {"path": "lib/data.txt", "content": "some data", "format": "text"},
    {"path": "unlisted.py", "content": "VALUE = 'not asked for'", "format": "text"},
]


async def test_required_artifact_files_are_importable_in_web_python(
        apps: Any, alice: Any, worker: BrowserWorker) -> None:
    app = await apps.install(source=PYTHON_WITH_FILES % '["utils.py", "lib/"]', files=ARTIFACT_FILES,
                             overwrite=True, timeout=120)
    session = await apps.start(app["id"], wait_for_service="default", timeout=120)
    try:
        svc = await alice.get_service(session["id"] + ":default")
        assert await svc.report() == {"utils": "utils", "helper": "helper", "deep": "deep", "data": "some data"}
        logs = [i["content"] for i in (await worker.get_logs(session["id"]))["items"]]
        assert any("Wrote 4 required artifact file(s) to /home/pyodide/app_files" in line for line in logs), logs
    finally:
        await apps.stop(session["id"])


async def test_a_missing_required_artifact_file_fails_the_start_naming_it(apps: Any) -> None:
    with pytest.raises(Exception, match=r"required_artifact_files: \S+/files/nowhere\.py answered HTTP 404"):
        await apps.install(source=PYTHON_WITH_FILES % '["utils.py", "nowhere.py"]', files=ARTIFACT_FILES,
                           overwrite=True, timeout=120)
