"""Agents over MCP (issue 26): the ``mcp`` SDK, over streamable HTTP, reaches a session through
the URL ``grant_agent`` returns on a real Hypha server with its MCP route on, lists the tools and
signs in; after ``revoke_agent``, after the TTL, and after the session ends, its calls fail.
Another tenant cannot grant, and the worker service itself is no tool set."""

from __future__ import annotations

import asyncio
import re
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import pytest
from hypha_rpc import connect_to_server
from hypha_rpc.rpc import RemoteException
from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client

from browser_worker import BrowserWorker

from ._support import web_app_config, settle, worker_service_id
from .test_control import LOGIN, PASSWORD

pytestmark = pytest.mark.e2e


@asynccontextmanager
async def mcp_session(url: str, token: str | None) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with streamablehttp_client(url, headers=headers, timeout=30) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            yield session


async def text_of(session: ClientSession, tool: str, args: dict[str, Any]) -> str:
    result = await session.call_tool(tool, args)
    text = "\n".join(getattr(c, "text", "") for c in result.content)
    assert not result.isError, text
    return text


async def answers(url: str, token: str | None) -> tuple[bool, str]:
    """Whether a snapshot through ``url`` works now, and what it said."""
    try:
        async with mcp_session(url, token) as session:
            result = await session.call_tool("browser_snapshot", {})
            return not result.isError, "\n".join(getattr(c, "text", "") for c in result.content)
    except Exception as exc:  # the route or the SDK refuses outright
        return False, repr(exc)


async def worker_service(client: Any) -> Any:
    worker_id = await worker_service_id(client)
    return worker_id, await client.get_service(worker_id)


async def test_an_agent_signs_in_over_mcp_until_the_grant_is_revoked_or_expires(
        hypha_server: Any, alice: Any, alice_token: str, served: Any, worker: BrowserWorker) -> None:
    _, remote = await worker_service(alice)
    sid = await remote.start(web_app_config(LOGIN))
    try:
        grant = await remote.grant_agent(sid, 120)
        assert re.fullmatch(rf"{re.escape(hypha_server.url)}/ws-user-alice/mcp/[^/]+:agent-[A-Za-z0-9_-]{{32}}/mcp",
                            grant["url"]), grant
        texts: list[str] = []
        async with mcp_session(grant["url"], alice_token) as session:
            names = [t.name for t in (await session.list_tools()).tools]
            assert {"browser_snapshot", "browser_click", "browser_type", "browser_press_key", "browser_navigate",
                    "browser_wait_for"} <= set(names)
            assert not {"execute", "start", "stop"} & set(names)
            snap = await text_of(session, "browser_snapshot", {})
            texts.append(snap)
            user = re.search(r'textbox "User"[^\n]*\[ref=(\w+)\]', snap).group(1)
            password = re.search(r'textbox "Password"[^\n]*\[ref=(\w+)\]', snap).group(1)
            texts.append(await text_of(session, "browser_type", {"ref": user, "text": "agent-user"}))
            done = await text_of(session, "browser_type",
                                 {"ref": password, "text": PASSWORD, "secret": True, "submit": True})
            texts.append(done)
            assert 'heading "Signed in as agent-user"' in done, done
        assert all(PASSWORD not in t and PASSWORD[:12] not in t for t in texts)
        actions = [i["content"] for i in (await worker.get_logs(sid, type="action"))["items"]]
        assert actions[-1].startswith("agent ") and "for alice@ws-user-alice (agent): fill" in actions[-1]
        assert f"(secret, {len(PASSWORD)} characters)" in actions[-1] and PASSWORD not in actions[-1]

        assert await remote.revoke_agent(sid) == {"revoked": True}
        assert "agent-" not in " ".join(s["id"] for s in await alice.list_services({"type": "mcp"}))
        worked, said = await answers(grant["url"], alice_token)
        assert not worked and "Signed in" not in said and "textbox" not in said, said

        short = await remote.grant_agent(sid, 1.5)
        async with mcp_session(short["url"], alice_token) as session:
            assert "Signed in as agent-user" in await text_of(session, "browser_snapshot", {})
        await asyncio.sleep(3.5)  # the TTL ends; the sweep unregisters it
        worked, said = await answers(short["url"], alice_token)
        assert not worked and "Signed in" not in said, said

        last = await remote.grant_agent(sid, 120)
    finally:
        await remote.stop(sid)
    await settle(worker)  # no session, slot or extra context left
    await asyncio.sleep(2.5)  # the session ended: the sweep unregisters its grant
    worked, said = await answers(last["url"], None)
    assert not worked and "Signed in" not in said, said


async def test_another_tenant_cannot_grant_and_the_worker_service_is_no_tool_set(
        hypha_server: Any, alice: Any, alice_token: str, served: Any, worker: BrowserWorker) -> None:
    worker_id, _ = await worker_service(alice)
    sid = await worker.start(web_app_config(LOGIN))
    bob = await connect_to_server({"server_url": hypha_server.url, "token": await hypha_server.user_token("bob")})
    try:
        remote = await bob.get_service(worker_id)
        for call in (lambda: remote.grant_agent(sid, 60), lambda: remote.revoke_agent(sid)):
            with pytest.raises(RemoteException, match=r"Permission denied: bob \(tenant, workspace ws-user-bob\)"):
                await call()
        # Pointed at the worker service itself, the MCP route finds no tool: the worker's methods
        # (execute among them) carry no schema, so the route wraps none of them.
        url = f"{hypha_server.url}/ws-user-alice/mcp/{worker_id.split('/', 1)[1]}/mcp"
        try:
            async with mcp_session(url, alice_token) as session:
                tools: Any = [t.name for t in (await session.list_tools()).tools]
        except Exception as exc:
            tools = repr(exc)
        assert tools == [] or "Method not found" in tools, tools
        assert (await worker.get_logs(sid, type="action"))["items"] == []
    finally:
        await bob.disconnect()
        await worker.stop(sid)
    await settle(worker)  # no session, slot or extra context left
