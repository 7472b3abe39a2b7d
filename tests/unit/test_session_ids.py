"""Session ids at the door (issue 19): the in-process caller may name any bounded id, as Hypha's
tests do (``test-execute-session``); an RPC caller's id stays ``<its workspace>/<client_id>``; no
id reaches into another workspace's id space, and the registry keeps an id bound to one workspace.
Also: our errors are Hypha's error classes once Hypha's module is loaded, and import without it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import pytest

from browser_worker._door.calls import Limits
from browser_worker._door.start import parse_start
from browser_worker._session.session import Session, SessionRegistry
from browser_worker._logs.buffer import LogBuffer
from browser_worker._net.policy import NetworkPolicy
from browser_worker.errors import SessionNotFoundError, WorkerError

URL = "data:text/html,<p>x</p>"


def config(**changes: Any) -> dict[str, Any]:
    return {"id": "test-execute-session", "workspace": "test-workspace", "client_id": "test-client",
            "app_id": "a", "manifest": {"type": "web-app", "entry_point": URL}, **changes}


def start(raw: dict[str, Any], *, free_id: bool, workspace: str | None = None):
    return parse_start(raw, workspace=workspace, limits=Limits(), net=NetworkPolicy(), free_id=free_id)


def test_the_in_process_caller_keeps_its_own_id() -> None:
    req = start(config(), free_id=True)
    assert (req.session_id, req.workspace, req.client_id) == ("test-execute-session", "test-workspace", "test-client")
    req = start(config(id="test-workspace/any thing", client_id=None), free_id=True)
    assert req.session_id == "test-workspace/any thing" and req.client_id.startswith("bw-")
    req = start(config(id=None), free_id=True)
    assert req.session_id == "test-workspace/test-client"


@pytest.mark.parametrize("bad", ["", " padded", "padded ", "tab\there", "new\nline", "nul\x00", "bidi\u202e",
                                 "x" * 301])
def test_a_free_id_is_bounded_and_printable(bad: str) -> None:
    with pytest.raises(WorkerError, match=r"^id .* is malformed \(rule: 1-300 printable characters"):
        start(config(id=bad), free_id=True)


def test_a_free_id_with_a_workspace_part_names_its_own_workspace() -> None:
    with pytest.raises(WorkerError, match="names workspace 'ws-user-alice', not the session's workspace 'test-workspace'"):
        start(config(id="ws-user-alice/squat"), free_id=True)


def test_rpc_callers_keep_workspace_bound_ids() -> None:
    for caller_ws in (None, "test-workspace"):  # admin (the app controller), tenant
        with pytest.raises(WorkerError, match=r"is malformed \(rule: <workspace>/<client_id>\)"):
            start(config(), free_id=False, workspace=caller_ws)
    with pytest.raises(WorkerError, match="is not the caller's workspace"):
        start(config(id="test-workspace/test-client"), free_id=False, workspace="ws-user-alice")
    with pytest.raises(WorkerError, match="does not match the id's client part"):
        start(config(id="test-workspace/other"), free_id=False, workspace="test-workspace")
    req = start(config(id="ws-user-alice/c1", workspace=None, client_id=None), free_id=False, workspace="ws-user-alice")
    assert (req.session_id, req.client_id) == ("ws-user-alice/c1", "c1")


def session(sid: str, workspace: str) -> Session:
    return Session(id=sid, app_id="a", workspace=workspace, client_id="c", app_type="web-app",
                   entry_point=None, logs=LogBuffer())


def test_an_id_stays_with_its_workspace_in_the_registry() -> None:
    registry = SessionRegistry()
    alice = session("shared", "ws-user-alice")
    registry.add(alice)
    with pytest.raises(WorkerError, match="already exists"):
        registry.add(session("shared", "ws-user-bob"))
    registry.retire(alice)
    with pytest.raises(WorkerError, match="already exists"):  # alice's retained logs stay hers
        registry.add(session("shared", "ws-user-bob"))
    assert registry.any("shared") is alice
    again = session("shared", "ws-user-alice")
    registry.add(again)  # her own new session takes the id back
    assert registry.any("shared") is again


def test_errors_become_hyphas_classes_once_hypha_is_loaded() -> None:
    hypha = pytest.importorskip("hypha.workers.base")
    err = SessionNotFoundError("non-existent-session")
    assert isinstance(err, hypha.SessionNotFoundError) and isinstance(err, SessionNotFoundError)
    assert str(err) == "Browser session non-existent-session not found"
    assert isinstance(WorkerError("x"), hypha.WorkerError)
    assert not isinstance(WorkerError("x"), hypha.SessionNotFoundError)
    assert f"{type(err).__module__}.{type(err).__name__}" == "browser_worker.errors.SessionNotFoundError"


def test_errors_import_and_raise_without_hypha() -> None:
    script = textwrap.dedent("""
        import sys
        sys.modules["hypha"] = None  # as if the optional extra were not installed
        from browser_worker.errors import SessionNotFoundError, WorkerError
        try:
            raise SessionNotFoundError("s")
        except WorkerError as exc:
            assert type(exc) is SessionNotFoundError and str(exc) == "Browser session s not found"
        assert "hypha.workers" not in sys.modules
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


def test_an_app_id_with_a_space_in_the_files_url_is_encoded_not_refused() -> None:
    """Hypha's app ids come from a word list with spaces (seen: 'accused-toad-mess up-accidentally')."""
    req = start(config(app_files_base_url="http://127.0.0.1:9000/ws/artifacts/toad-mess up-x/files",
                       entry_point="index.html"), free_id=True)
    assert req.files_base_url == "http://127.0.0.1:9000/ws/artifacts/toad-mess%20up-x/files"
    with pytest.raises(WorkerError, match="may not contain whitespace"):
        start(config(app_files_base_url="http://127.0.0.1:9000/ws/a\tb/files", entry_point="index.html"),
              free_id=True)
