"""The page side of issue 29, with fake hypha-rpc objects (no browser, no server): a page whose
connection reports another manager than the asking replica's registers each of its services
once more, the same service info, through ``*/<asking manager>:default``; one on the asking
replica (or with no asking replica) registers nothing more; a failure fails the start naming
the replica, and after the start is only logged. ``templates/replica-follow.js`` runs under
node (skipped without it); the web-python boot's ``_BwFollow`` is taken out of
``templates/web_python_boot.py`` (which imports Pyodide modules at its top) and run here."""

from __future__ import annotations

import ast
import asyncio
import json
import shutil
import subprocess
import sys
from typing import Any

import pytest

from browser_worker.resources import templates_dir

JS_HARNESS = r"""
const scenario = JSON.parse(process.argv[1]);
const calls = [];
const log = [];
console.info = (m) => log.push(["info", m]);
console.error = (m) => log.push(["error", m]);
const rpc = {
  _connection: { manager_id: scenario.reached },
  async register_service(service, config) {
    calls.push(["own", service.id]);
    await new Promise((r) => setTimeout(r, 5));
    return { id: `ws-user-erin/page-1:${service.id}`, config: { workspace: "ws-user-erin" } };
  },
  async get_remote_service(uri, config) {
    calls.push(["get", uri]);
    if (scenario.unreachable) throw new Error("Timeout Error: Failed to get remote service: " + uri);
    return { registerService: async (info) => { calls.push(["follow", info.id]); } };
  },
};
const api = { rpc, config: { manager_id: scenario.reached } };
api.registerService = rpc.register_service.bind(rpc);
const follow = bwFollowAskingReplica(api, scenario.asking);
(async () => {
  let failure = null;
  rpc.register_service({ id: "default" }, { overwrite: true });      // not awaited, as apps do
  await api.registerService({ id: "extra" });
  await rpc.register_service({ id: "quiet" }, { notify: false });
  try { await follow.settle(); } catch (err) { failure = err.message; }
  if (scenario.unreachable) await api.registerService({ id: "late" });
  console.log(JSON.stringify({ calls, failure, log }));
})();
"""


def run_js(**scenario: Any) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (the page code runs in Chromium in the e2e tests)")
    source = (templates_dir() / "replica-follow.js").read_text() + JS_HARNESS
    out = subprocess.run([node, "-e", source, json.dumps(scenario)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_js_a_page_on_another_replica_registers_its_services_also_through_the_asking_one() -> None:
    got = run_js(asking="manager-a", reached="manager-b")
    follows = [c for c in got["calls"] if c[0] == "follow"]
    assert follows == [["follow", "ws-user-erin/page-1:default"], ["follow", "ws-user-erin/page-1:extra"]]
    assert [c for c in got["calls"] if c[0] == "get"] == [["get", "*/manager-a:default"]]  # fetched once
    assert got["failure"] is None


@pytest.mark.parametrize("asking", ["manager-b", None, ""])
def test_js_a_page_on_the_asking_replica_or_without_one_registers_nothing_more(asking: str | None) -> None:
    got = run_js(asking=asking, reached="manager-b")
    assert [c[0] for c in got["calls"]] == ["own", "own", "own"] and got["failure"] is None


def test_js_an_unreachable_asking_replica_fails_the_start_naming_it_then_only_logs() -> None:
    got = run_js(asking="manager-gone", reached="manager-b", unreachable=True)
    assert "manager-gone" in got["failure"] and "manager-b" in got["failure"]
    assert "could not register its services" in got["failure"]
    assert any(level == "error" and "manager-gone" in text for level, text in got["log"])  # the late one


# ----- the web-python boot's copy ----------------------------------------------------------------

def boot_follow() -> dict[str, Any]:
    """``StartFailure``, ``FOLLOW_SECONDS`` and ``_BwFollow`` from the boot file, run here."""
    tree = ast.parse((templates_dir() / "web_python_boot.py").read_text())
    keep = [node for node in tree.body
            if (isinstance(node, ast.ClassDef) and node.name in ("StartFailure", "_BwFollow"))
            or (isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "FOLLOW_SECONDS" for t in node.targets))]
    namespace: dict[str, Any] = {"asyncio": asyncio, "sys": sys}
    exec(compile(ast.Module(body=keep, type_ignores=[]), "web_python_boot.py", "exec"), namespace)
    return namespace


class FakeRpc:
    def __init__(self, reached: str, unreachable: bool = False) -> None:
        self._connection = type("C", (), {"manager_id": reached})()
        self.calls: list[tuple[str, str]] = []
        self.unreachable = unreachable

    async def register_service(self, api: dict[str, Any], config: Any = None, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("own", api["id"]))
        return {"id": f"ws-user-erin/page-1:{api['id']}"}

    async def get_remote_service(self, uri: str, config: Any = None) -> Any:
        self.calls.append(("get", uri))
        if self.unreachable:
            raise TimeoutError("Failed to get remote service: " + uri)
        calls = self.calls

        class Manager:
            async def register_service(self, info: dict[str, Any]) -> None:
                calls.append(("follow", info["id"]))
        return Manager()


class FakeServer:
    def __init__(self, rpc: FakeRpc) -> None:
        self.rpc = rpc
        self.register_service = rpc.register_service


async def test_python_a_page_on_another_replica_registers_also_through_the_asking_one() -> None:
    ns = boot_follow()
    rpc = FakeRpc("manager-b")
    server = FakeServer(rpc)
    follow = ns["_BwFollow"](server, "manager-a")
    asyncio.ensure_future(server.register_service({"id": "default"}, {"overwrite": True}))  # not awaited
    await rpc.register_service({"id": "extra"}, overwrite=True)
    await server.register_service({"id": "quiet"}, {"notify": False})
    await follow.settle()
    assert [c for c in rpc.calls if c[0] != "own"] == [
        ("get", "*/manager-a:default"), ("follow", "ws-user-erin/page-1:default"),
        ("follow", "ws-user-erin/page-1:extra")]


async def test_python_on_the_asking_replica_nothing_more_and_unreachable_fails_naming_it() -> None:
    ns = boot_follow()
    same = FakeRpc("manager-a")
    follow = ns["_BwFollow"](FakeServer(same), "manager-a")
    await same.register_service({"id": "default"})
    await follow.settle()
    assert same.calls == [("own", "default")]

    gone = FakeRpc("manager-b", unreachable=True)
    server = FakeServer(gone)
    follow = ns["_BwFollow"](server, "manager-gone")
    await server.register_service({"id": "default"})
    with pytest.raises(ns["StartFailure"], match="manager-gone.*could not register its services"):
        await follow.settle()
