"""Every service method refuses another tenant the same way: a ``PermissionDeniedError`` whose
message starts "Permission denied" (issue 27). The table must name every method the worker
registers, so a new method cannot ship without its refusal checked."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from browser_worker import BrowserWorker, PermissionDeniedError

from ._support import web_app_config, settle

pytestmark = pytest.mark.e2e

BOB = {"ws": "ws-user-bob", "user": {"id": "bob", "roles": []}}


def calls(sid: str) -> dict[str, Callable[[BrowserWorker], Any]]:
    alice_app = web_app_config("data:text/html,<p>x</p>")
    return {
        "start": lambda w: w.start(alice_app, context=BOB),
        "stop": lambda w: w.stop(sid, context=BOB),
        "get_logs": lambda w: w.get_logs(sid, context=BOB),
        "get_artifact": lambda w: w.get_artifact(sid, "screenshot", context=BOB),
        "get_session_info": lambda w: w.get_session_info(sid, context=BOB),
        "list_sessions": lambda w: w.list_sessions("ws-user-alice", context=BOB),
        "execute": lambda w: w.execute(sid, "1", context=BOB),
        "take_screenshot": lambda w: w.take_screenshot(sid, context=BOB),
        "print_pdf": lambda w: w.print_pdf(sid, context=BOB),
        "prepare_workspace": lambda w: w.prepare_workspace("ws-user-alice", context=BOB),
        "close_workspace": lambda w: w.close_workspace("ws-user-alice", context=BOB),
        "compile": lambda w: w.compile({"type": "window", "name": "x"}, [], {"workspace": "ws-user-alice"}, context=BOB),
        "shutdown": lambda w: w.shutdown(context=BOB),
        "clear_app_cache": lambda w: w.clear_app_cache("ws-user-alice", "app", context=BOB),
        "get_app_cache_stats": lambda w: w.get_app_cache_stats("ws-user-alice", "app", context=BOB),
        "watch": lambda w: w.watch(sid, context=BOB),
        "stream_logs": lambda w: w.stream_logs(sid, context=BOB),
        "snapshot": lambda w: w.snapshot(sid, context=BOB),
        "act": lambda w: w.act(sid, [{"action": "press", "key": "Enter"}], context=BOB),
        "take_control": lambda w: w.take_control(sid, context=BOB),
        "release_control": lambda w: w.release_control(sid, context=BOB),
        "send_input": lambda w: w.send_input(sid, [{"type": "text", "text": "x"}], context=BOB),
        "list_downloads": lambda w: w.list_downloads(sid, context=BOB),
        "get_download": lambda w: w.get_download(sid, "d1", context=BOB),
        "grant_agent": lambda w: w.grant_agent(sid, 60, context=BOB),
        "revoke_agent": lambda w: w.revoke_agent(sid, context=BOB),
    }


async def test_every_method_refuses_another_tenant_with_one_error_class(worker: BrowserWorker) -> None:
    sid = await worker.start(web_app_config("data:text/html,<title>alice</title>"))
    try:
        table = calls(sid)
        assert set(table) == set(BrowserWorker.SERVICE_METHODS)
        for name, call in table.items():
            with pytest.raises(PermissionDeniedError) as err:
                await call(worker)
            assert str(err.value).startswith("Permission denied"), (name, str(err.value))
        assert (await worker.get_session_info(sid))["status"] == "running"
    finally:
        await worker.stop(sid)
    await settle(worker)  # no session, slot or extra context left
