"""``manifest.startup_script``: a file of the app's own, run in its page once the page has loaded
(any app type; Hypha's built-in worker reads the same field).

The file is fetched from the app's files on the Hypha server with the session's token in a
header, bounded in size and by the start's deadline, and evaluated in the page like ``execute``
(so a page's Content-Security-Policy does not block it). As with the built-in, a script that
cannot be fetched or throws does not fail the start: it is logged as an error, so an author sees
it in the session's logs.
"""

from __future__ import annotations

import time
from urllib.parse import quote

from browser_worker._door import MAX_SCRIPT_CHARS
from browser_worker._door import StartRequest
from browser_worker._page import evaluate as evaluate_in_page
from browser_worker._logs import Progress
from browser_worker._net import NetworkPolicy
from browser_worker.errors import WorkerError


async def run_startup_script(req: StartRequest, page: object, net: NetworkPolicy, progress: Progress,
                             deadline: float) -> bool:
    """Fetch and run the app's startup script; True when it ran, False when it failed (logged)."""
    path = req.startup_script
    if path is None:
        return True
    if not req.files_base_url:
        progress.error(f"startup_script {path!r} not run: this start has no app files to read it from "
                       "(app_files_base_url)")
        return False
    progress.info(f"Running the startup script {path}")
    headers = {"Authorization": f"Bearer {req.token}"} if req.token else {}
    try:
        body, _ = await net.fetch_bytes(f"{req.files_base_url}/{quote(path)}", "app_files_base_url",
                                        max_bytes=MAX_SCRIPT_CHARS, deadline=deadline, headers=headers,
                                        trust_redirects=True)
    except WorkerError as exc:
        progress.error(f"startup_script {path!r} could not be fetched: {exc}")
        return False
    try:
        await evaluate_in_page(page, body.decode("utf-8", errors="replace"),  # type: ignore[arg-type]
                                    max(1.0, deadline - time.monotonic()))
    except WorkerError as exc:
        progress.error(f"startup_script {path!r} failed: {exc}")
        return False
    return True
