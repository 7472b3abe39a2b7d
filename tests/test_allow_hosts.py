"""Issue 17: one rule per flag. ``--allow-hosts`` means the same for page requests as for the
worker's own fetches: the listed hosts, plus the Hypha server the worker is registered with."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from browser_worker import BrowserWorker
from browser_worker._net.policy import NetworkPolicy

FETCH = """async () => {
  try { await fetch(%r, {mode: "no-cors"}); return "reached"; } catch (e) { return "blocked"; }
}"""


def test_the_rule_admits_listed_hosts_and_the_server_only() -> None:
    policy = NetworkPolicy(allow_hosts=("cdn.example.org",), trusted_origins=("http://127.0.0.1:9527",))
    assert policy.host_allowed("https://cdn.example.org/lib.js")
    assert policy.host_allowed("http://127.0.0.1:9527/assets/hypha-rpc-websocket.mjs")
    assert not policy.host_allowed("http://127.0.0.1:9999/other-port")
    assert not policy.host_allowed("http://localhost:9527/same-server-other-name")
    assert not policy.host_allowed("https://evil.example.net/")
    assert NetworkPolicy().host_allowed("https://anywhere.example/")  # no list: any host


@pytest.mark.e2e
async def test_pages_reach_the_hypha_server_but_no_unlisted_host(settings: Any, window_config: Any) -> None:
    """Before: the page guard had its own, exact-host rule and blocked the Hypha server itself,
    so with ``--allow-hosts cdn.example.org`` no window app could import hypha-rpc."""
    port = urlsplit(settings.server_url).port
    async with BrowserWorker(settings.with_(pool_size=0, allow_hosts="cdn.example.org")) as w:
        sid = await w.start(window_config("await api.export({ setup() {} });"))
        assert await w.execute(sid, FETCH % settings.server_url) == "reached"
        assert await w.execute(sid, FETCH % f"http://localhost:{port}/") == "blocked"
        await w.stop(sid)
        assert w.stats().in_use == 0
