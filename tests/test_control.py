"""Control of a session (issue 26): snapshot and act in real Chromium, through a real Hypha
server as the owner would, with the password never leaving the worker; the control lease; and
other tenants, anonymous callers and internal navigation targets refused."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web
from hypha_rpc import connect_to_server
from hypha_rpc.rpc import RemoteException

from browser_worker import BrowserWorker, PermissionDeniedError
from browser_worker._control import ControlBusyError
from browser_worker._net import start_site

from ._support import web_app_config, settle, worker_service_id

pytestmark = pytest.mark.e2e

PASSWORD = "pw-Kj7Qz0-correct-horse"
LOGIN = "data:text/html," + quote("""<!doctype html><title>Login</title>
<form id=f><label>User <input name=user></label>
<label>Password <input type=password name=pass></label>
<button>Sign in</button></form>
<script>
document.getElementById('f').onsubmit = (e) => {
  e.preventDefault();
  const user = e.target.user.value;
  document.title = 'Welcome';
  document.body.innerHTML = '<h1>Signed in as ' + user + '</h1><button>Sign out</button>';
  console.log('signed in', user);
};
</script>""")
ALICE = {"ws": "ws-user-alice", "user": {"id": "alice", "roles": []}}
BOB = {"ws": "ws-user-bob", "user": {"id": "bob", "roles": []}}
ANONYMOUS = {"ws": "ws-user-anon", "user": {"id": "anonymouz-x", "is_anonymous": True, "roles": []}}


def ref_of(snapshot: str, role: str, name: str) -> str:
    match = re.search(rf'- {role} "{re.escape(name)}"[^\n]*\[ref=((?:f\d+)?e\d+)\]', snapshot)
    assert match, snapshot
    return match.group(1)


def strings(value: Any) -> list[str]:
    """Every string in a reply (keys included), however hypha-rpc wrapped its dicts and lists."""
    if isinstance(value, str):
        return [value]
    if hasattr(value, "keys"):
        return [s for k in value.keys() for s in (*strings(k), *strings(value[k]))]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in strings(v)]
    return [str(value)]


def no_password(*values: Any) -> None:
    found = [s for v in values for s in strings(v) if PASSWORD in s or PASSWORD[:12] in s]
    assert found == []
    assert len([s for v in values for s in strings(v)]) > 50  # it did look at the replies


async def test_the_owner_signs_in_through_the_server_and_the_password_never_leaves(
        hypha_server: Any, alice: Any, served: Any, worker: BrowserWorker) -> None:
    worker_id = await worker_service_id(alice)
    remote = await alice.get_service(worker_id)
    sid = await remote.start(web_app_config(LOGIN))
    seen: list[Any] = []
    try:
        first = await remote.snapshot(sid)
        seen.append(first)
        user, password = ref_of(first["snapshot"], "textbox", "User"), ref_of(first["snapshot"], "textbox", "Password")
        assert 'button "Sign in"' in first["snapshot"] and first["title"] == "Login" and not first["truncated"]

        # Typed into the password box without saying it is a secret: still masked.
        filled = await remote.act(sid, [
            {"action": "fill", "ref": user, "text": "alice-user"},
            {"action": "type", "ref": password, "text": PASSWORD},
        ], return_snapshot=True)
        seen.append(filled)
        assert filled["ok"] and [s["target"] for s in filled["steps"]] == [
            'get_by_role("textbox", name="User")', 'get_by_role("textbox", name="Password")']
        assert re.search(r'textbox "Password" [^\n]*\[ref=(f\d+)?e\d+\]: ••••••', filled["snapshot"]["snapshot"])
        assert 'textbox "User"' in filled["snapshot"]["snapshot"] and "alice-user" in filled["snapshot"]["snapshot"]

        # Again as a secret, then submit by role and name.
        signed = await remote.act(sid, [
            {"action": "fill", "ref": password, "text": PASSWORD, "secret": True},
            {"action": "click", "role": "button", "name": "Sign in"},
        ])
        seen.append(signed)
        assert signed["ok"] and signed["title"] == "Welcome"
        assert signed["console"] == ["[log] signed in alice-user"]
        after = await remote.snapshot(sid)
        seen.append(after)
        assert 'heading "Signed in as alice-user"' in after["snapshot"] and 'button "Sign out"' in after["snapshot"]

        stale = await remote.act(sid, [{"action": "click", "ref": user}, {"action": "press", "key": "Enter"}])
        seen.append(stale)
        assert not stale["ok"] and stale["skipped"] == 1 and "take a new snapshot" in stale["steps"][0]["error"]

        logs = await remote.get_logs(sid)
        seen.append(logs)
        actions = [i["content"] for i in logs["items"] if i["type"] == "action"]
        assert actions[:4] == [
            'alice@ws-user-alice (agent): fill get_by_role("textbox", name="User") (10 characters)',
            f'alice@ws-user-alice (agent): type get_by_role("textbox", name="Password") ({len(PASSWORD)} characters)',
            f'alice@ws-user-alice (agent): fill get_by_role("textbox", name="Password") (secret, {len(PASSWORD)} characters)',
            'alice@ws-user-alice (agent): click get_by_role("button", name="Sign in")',
        ]
        assert actions[4].startswith("alice@ws-user-alice (agent): click — failed: ")
        seen.append(await remote.get_session_info(sid))
        no_password(*seen)
    finally:
        await remote.stop(sid)
    await settle(worker)  # no session, slot or extra context left


async def test_another_tenant_and_anonymous_callers_are_refused_every_control_method(
        hypha_server: Any, alice: Any, served: Any, worker: BrowserWorker) -> None:
    sid = await worker.start(web_app_config(LOGIN))
    calls = {
        "snapshot": lambda r, c: r.snapshot(sid, **c),
        "act": lambda r, c: r.act(sid, [{"action": "click", "role": "button", "name": "Sign in"}], **c),
        "take_control": lambda r, c: r.take_control(sid, **c),
        "release_control": lambda r, c: r.release_control(sid, **c),
        "send_input": lambda r, c: r.send_input(sid, [{"type": "mouse", "action": "down", "x": 5, "y": 5}], **c),
        "list_downloads": lambda r, c: r.list_downloads(sid, **c),
        "get_download": lambda r, c: r.get_download(sid, "d1", **c),
        "grant_agent": lambda r, c: r.grant_agent(sid, 60, **c),
        "revoke_agent": lambda r, c: r.revoke_agent(sid, **c),
    }
    try:
        for context, who in ((BOB, "bob (tenant, workspace ws-user-bob) cannot "), (ANONYMOUS, "")):
            for name, call in calls.items():
                with pytest.raises(PermissionDeniedError) as err:
                    await call(worker, {"context": context})
                assert str(err.value).startswith("Permission denied: " + who), str(err.value)
        # And over the wire, as the server hands the call on.
        worker_id = await worker_service_id(alice)
        bob = await connect_to_server({"server_url": hypha_server.url, "token": await hypha_server.user_token("bob")})
        anonymous = await connect_to_server({"server_url": hypha_server.url})
        try:
            for client in (bob, anonymous):
                remote = await client.get_service(worker_id)
                for name, call in calls.items():
                    with pytest.raises(RemoteException, match="Permission denied"):
                        await call(remote, {})
        finally:
            await bob.disconnect()
            await anonymous.disconnect()
        assert (await worker.get_logs(sid, type="action"))["items"] == []  # nothing was done
        assert "Sign in" in (await worker.snapshot(sid))["snapshot"]
    finally:
        await worker.stop(sid)
    await settle(worker)  # no session, slot or extra context left


async def test_navigation_obeys_the_network_rules(worker: BrowserWorker) -> None:
    app = web.Application()
    app.router.add_get("/", lambda _: web.Response(text="internal", content_type="text/html"))
    runner, url = await start_site(app)
    sid = await worker.start(web_app_config(LOGIN))
    try:
        for target, why in ((url, "resolves to 127.0.0.1 (loopback)"),
                            ("http://169.254.169.254/latest/meta-data/", "resolves to 169.254.169.254 (link-local)"),
                            ("file:///etc/passwd", "scheme file: is not allowed (rule: pages load only from http:, https:;"
                                                   " file: needs --allow-file-urls)")):
            result = await worker.act(sid, [{"action": "navigate", "url": target}])
            assert not result["ok"], result
            assert result["steps"][0]["error"].startswith("navigate.url: ") and why in result["steps"][0]["error"]
            assert result["url"].startswith("data:text/html")
    finally:
        await worker.stop(sid)
        await runner.cleanup()
    await settle(worker)  # no session, slot or extra context left


async def test_while_a_person_holds_control_an_agent_is_refused_naming_them(worker: BrowserWorker) -> None:
    sid = await worker.start(web_app_config(LOGIN))
    agent = {"ws": "ws-user-alice", "user": {"id": "alice-bot", "roles": []}}
    try:
        held = await worker.take_control(sid, context=ALICE)
        assert held["holder"] == "alice@ws-user-alice" and held["kind"] == "person"
        assert (await worker.get_session_info(sid))["control"]["holder"] == "alice@ws-user-alice"
        with pytest.raises(ControlBusyError, match=r"^Session is controlled by alice@ws-user-alice \(person\) until "):
            await worker.act(sid, [{"action": "click", "role": "button", "name": "Sign in"}], context=agent)
        assert (await worker.release_control(sid, context=ALICE)) == {"holder": None}
        done = await worker.act(sid, [{"action": "click", "role": "button", "name": "Sign in"}], context=agent)
        assert done["ok"] and "Signed in as" in (await worker.snapshot(sid))["snapshot"]
        # The agent holds it now; the person takes it back.
        assert (await worker.take_control(sid, context=ALICE))["holder"] == "alice@ws-user-alice"
        actions = (await worker.get_logs(sid, type="action"))["items"]
        assert [a["content"] for a in actions] == [
            "alice@ws-user-alice (person) took control",
            "alice@ws-user-alice (person) released control",
            'alice-bot@ws-user-alice (agent): click get_by_role("button", name="Sign in")',
            "alice@ws-user-alice (person) took control",
        ]
    finally:
        await worker.stop(sid)
    await settle(worker)  # no session, slot or extra context left
