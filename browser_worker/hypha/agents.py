"""Agents over MCP: a grant registers a per-session tool service, reached through Hypha's MCP
route, with the tool names and arguments of Playwright MCP (``browser_snapshot``,
``browser_click``, ``browser_type``, …).

Hypha 0.21.137's MCP route does not check each caller: it builds one adapter per service with
its first caller's identity and reuses it for every later caller, anonymous ones included. So a
grant's secret is its address: an unguessable service id (``agent-`` + 24 random bytes), unlisted,
bound to one session, and unregistered when the grant is revoked, when its TTL ends, or when the
session ends. Tools act as the grant's agent (audited as ``agent <id> for <grantor>``) and only
through ``snapshot`` and ``act``: the worker service itself is never an MCP tool set (no
``schema_function`` on ``execute`` or any other method), because the route's ``context`` names the
workspace written in the URL, not the caller.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Protocol

from browser_worker.errors import WorkerError

log = logging.getLogger(__name__)

#: Grants alive at once on one worker (each leaves an adapter cached in the server until it restarts).
MAX_GRANTS = 32
#: How often ended sessions' and expired grants are swept (seconds).
SWEEP_SECONDS = 1.0


class Agent(Protocol):
    """What the tools need of the worker (``BrowserWorker`` is one)."""

    async def agent_snapshot(self, session_id: str, depth: int | None = None) -> dict[str, Any]: ...
    async def agent_act(self, session_id: str, steps: list[dict[str, Any]], actor_id: str,
                        return_snapshot: bool = False) -> dict[str, Any]: ...
    def is_running(self, session_id: str) -> bool: ...


@dataclass
class Grant:
    id: str
    session_id: str
    grantor: str
    expires: float  # monotonic
    expires_at: str
    url: str
    service_id: str


def _ref(args: dict[str, Any]) -> dict[str, Any]:
    ref = args.get("ref")
    if not isinstance(ref, str):
        raise WorkerError("ref: the element's ref from browser_snapshot (e.g. e12) is required")
    return {"ref": ref}


def _text_of(result: dict[str, Any]) -> str:
    """An act result as an agent reads it: what each step did, then the page's snapshot."""
    lines = []
    for step in result.get("steps", []):
        target = f" {step['target']}" if step.get("target") else ""
        lines.append(f"- {step['action']}{target}: {'ok' if step.get('ok') else 'failed: ' + str(step.get('error'))}")
    if result.get("skipped"):
        lines.append(f"- {result['skipped']} step(s) not run")
    lines.append(f"Page: {result.get('title', '')} ({result.get('url', '')})")
    for dialog in result.get("dialogs", []):
        lines.append(f"Dialog dismissed: {dialog}")
    for line in result.get("console", []):
        lines.append(f"Console: {line}")
    snap = result.get("snapshot")
    if isinstance(snap, dict):
        lines += ["", "Snapshot:", snap.get("snapshot", "")]
    return "\n".join(lines)


def _tool(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"name": name, "description": description,
            "inputSchema": {"type": "object", "properties": properties, "required": required,
                            "additionalProperties": False}}


REF = {"type": "string", "description": "The element's ref from the latest browser_snapshot (e.g. e12)"}
ELEMENT = {"type": "string", "description": "What the element is, in words (for the log; optional)"}
TOOLS = [
    _tool("browser_snapshot", "The page's accessibility snapshot with element refs (passwords masked)",
          {"depth": {"type": "integer", "minimum": 1, "maximum": 100}}, []),
    _tool("browser_click", "Click an element", {"ref": REF, "element": ELEMENT, "doubleClick": {"type": "boolean"},
                                                 "button": {"type": "string", "enum": ["left", "right", "middle"]}},
          ["ref"]),
    _tool("browser_hover", "Hover over an element", {"ref": REF, "element": ELEMENT}, ["ref"]),
    _tool("browser_type", "Type text into an editable element",
          {"ref": REF, "element": ELEMENT, "text": {"type": "string", "maxLength": 4096},
           "submit": {"type": "boolean", "description": "Press Enter after"},
           "slowly": {"type": "boolean", "description": "Type one character at a time"},
           "secret": {"type": "boolean", "description": "A password: never shown back, logged by length only"}},
          ["ref", "text"]),
    _tool("browser_select_option", "Select options in a dropdown",
          # No "items" key: Hypha 0.21.137's proxy unwrapping calls dict.items() and a key of that
          # name shadows it ("'ObjectProxy' object is not callable").
          {"ref": REF, "element": ELEMENT, "values": {"type": "array", "description": "Option values or labels (strings)"}},
          ["ref", "values"]),
    _tool("browser_press_key", "Press a key (Playwright's names: Enter, ArrowDown, Control+a, …)",
          {"key": {"type": "string"}}, ["key"]),
    _tool("browser_navigate", "Open a URL in the page (the worker's network rules apply)",
          {"url": {"type": "string"}}, ["url"]),
    _tool("browser_navigate_back", "Go back", {}, []),
    _tool("browser_wait_for", "Wait for text to appear or disappear, or for some seconds (at most 10)",
          {"text": {"type": "string"}, "textGone": {"type": "string"}, "time": {"type": "number"}}, []),
]


def _steps(name: str, args: dict[str, Any]) -> list[dict[str, Any]]:
    """A tool call as the typed steps ``act`` takes (the door parses them again)."""
    if name == "browser_click":
        return [{"action": "double_click" if args.get("doubleClick") else "click", **_ref(args),
                 **({"button": args["button"]} if "button" in args else {})}]
    if name == "browser_hover":
        return [{"action": "hover", **_ref(args)}]
    if name == "browser_type":
        return [{"action": "type" if args.get("slowly") else "fill", **_ref(args), "text": args.get("text"),
                 "submit": bool(args.get("submit")), "secret": bool(args.get("secret"))}]
    if name == "browser_select_option":
        return [{"action": "select", **_ref(args), "values": args.get("values")}]
    if name == "browser_press_key":
        return [{"action": "press", "key": args.get("key")}]
    if name == "browser_navigate":
        return [{"action": "navigate", "url": args.get("url")}]
    if name == "browser_navigate_back":
        return [{"action": "back"}]
    if name == "browser_wait_for":
        given = {k: args[k] for k in ("text", "textGone", "time") if k in args}
        return [{"action": "wait_for", **({"text_gone": given.pop("textGone")} if "textGone" in given else {}), **given}]
    raise WorkerError(f"unknown tool {str(name)[:60]!r} (rule: one of {', '.join(t['name'] for t in TOOLS)})")


class AgentGrants:
    """The grants of one worker on one Hypha connection."""

    def __init__(self, agent: Agent, server: Any, public_url: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._agent = agent
        self._server = server
        self._public_url = public_url.rstrip("/")
        self._clock = clock
        self._grants: dict[str, Grant] = {}  # by grant id
        self._sweeper: asyncio.Task[None] | None = None

    def of_session(self, session_id: str) -> Grant | None:
        return next((g for g in self._grants.values() if g.session_id == session_id), None)

    async def grant(self, session_id: str, ttl: float, grantor: str) -> dict[str, Any]:
        """Register a tool service for ``session_id`` (replacing the session's earlier grant)."""
        old = self.of_session(session_id)
        if old is not None:
            await self._end(old, "replaced by a new grant")
        if len(self._grants) >= MAX_GRANTS:
            raise WorkerError(f"this worker has {MAX_GRANTS} agent grants already (rule: at most {MAX_GRANTS}); "
                              "revoke one first")
        grant_id = secrets.token_urlsafe(24)
        service_id = f"agent-{grant_id}"
        config = self._server.config
        full_id = f"{config.client_id}:{service_id}"
        expires_at = datetime.fromtimestamp(time.time() + ttl, timezone.utc).isoformat(timespec="seconds")
        grant = Grant(grant_id, session_id, grantor, self._clock() + ttl, expires_at,
                      f"{self._public_url}/{config.workspace}/mcp/{full_id}/mcp", service_id)

        async def list_tools() -> list[dict[str, Any]]:
            self._live(grant)
            return TOOLS

        async def call_tool(name: str, arguments: dict[str, Any] | None = None) -> list[dict[str, Any]]:
            return [{"type": "text", "text": await self._call(grant, name, dict(arguments or {}))}]

        await self._server.register_service({
            "id": service_id, "name": f"Browser session {session_id} (agent)", "type": "mcp",
            "description": "Playwright-MCP-style tools for one browser session, for as long as the grant lasts",
            "config": {"visibility": "unlisted", "require_context": False},
            "list_tools": list_tools, "call_tool": call_tool,
        })
        self._grants[grant_id] = grant
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.ensure_future(self._sweep())
        return {"url": grant.url, "expires_at": expires_at, "ttl": ttl}

    async def revoke(self, session_id: str) -> bool:
        grant = self.of_session(session_id)
        if grant is None:
            return False
        await self._end(grant, "revoked")
        return True

    def _live(self, grant: Grant) -> None:
        if self._grants.get(grant.id) is not grant:
            raise WorkerError("this agent grant was revoked")
        if self._clock() >= grant.expires:
            raise WorkerError(f"this agent grant expired at {grant.expires_at}")
        if not self._agent.is_running(grant.session_id):
            raise WorkerError(f"session {grant.session_id} is not running")

    async def _call(self, grant: Grant, name: str, args: dict[str, Any]) -> str:
        self._live(grant)
        actor = f"agent {grant.id[:6]}… for {grant.grantor}"
        if name == "browser_snapshot":
            depth = args.get("depth")
            snap = await self._agent.agent_snapshot(grant.session_id, depth if isinstance(depth, int) else None)
            return snap["snapshot"] + (f"\n\n({snap['hint']})" if snap.get("hint") else "")
        result = await self._agent.agent_act(grant.session_id, _steps(name, args), actor, return_snapshot=True)
        return _text_of(result)

    async def _end(self, grant: Grant, why: str) -> None:
        self._grants.pop(grant.id, None)
        try:
            await self._server.unregister_service(grant.service_id)
        except Exception as exc:  # the connection is gone: the service went with it
            log.debug("unregistering agent grant for %s failed: %s", grant.session_id, exc)
        log.info("agent grant for %s ended: %s", grant.session_id, why)

    async def _sweep(self) -> None:
        while self._grants:
            await asyncio.sleep(SWEEP_SECONDS)
            now = self._clock()
            for grant in list(self._grants.values()):
                if now >= grant.expires:
                    await self._end(grant, "its TTL ended")
                elif not self._agent.is_running(grant.session_id):
                    await self._end(grant, "the session ended")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        for grant in list(self._grants.values()):
            await self._end(grant, "the worker closed")

