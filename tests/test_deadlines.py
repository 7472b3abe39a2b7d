"""A caller of a page that never answers gets the worker's error naming the deadline before
hypha-rpc's own 30 s call timeout, through a real Hypha server, and the session says ``stuck``
(issue 27)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypha_rpc.rpc import RemoteException

from browser_worker import BrowserWorker

from ._support import web_app_config, settle, worker_service_id

pytestmark = pytest.mark.e2e


async def test_execute_on_a_spinning_page_answers_with_our_deadline(
        alice: Any, served: Any, worker: BrowserWorker) -> None:
    worker_id = await worker_service_id(alice)
    remote = await alice.get_service(worker_id)
    sid = await remote.start(web_app_config("data:text/html,<p>spin</p>"))
    try:
        t0 = time.monotonic()
        with pytest.raises(RemoteException) as err:
            await remote.execute(sid, "() => { while (true) {} }")
        took = time.monotonic() - t0
        message = str(err.value)
        assert f"execute did not finish within {worker.settings.execute_timeout:g}s" in message, message
        assert "time out" not in message.lower() and took < 29, (took, message)
        assert (await remote.get_session_info(sid))["stuck"] is True
    finally:
        await worker.stop(sid)
    await settle(worker)  # no session, slot or extra context left
