"""The network rules (issue 10 "where pages may go", server-side request forgery): page URL
schemes, internal addresses refused for server-side fetches, redirects, caps and deadlines,
checked against real local aiohttp servers (no server or browser of ours needed)."""

from __future__ import annotations

import asyncio
import gzip
import socket
import time
from typing import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web

from browser_worker import WorkerError
from browser_worker._net import policy as netpolicy
from browser_worker._net.policy import FetchDeadlineError, FetchTooLargeError, NetworkPolicy, blocked_reason
from browser_worker._net.loopback import start_site

DEFAULT = NetworkPolicy()
OPEN = NetworkPolicy(allow_private=True)

INTERNAL = [
    "http://127.0.0.1/", "http://127.0.0.1:9527/metrics", "http://10.1.2.3/", "http://172.16.0.1/",
    "http://192.168.1.1/", "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://localhost:8080/",
    "http://[::ffff:127.0.0.1]/", "http://[::ffff:a9fe:a9fe]/", "http://0.0.0.0/", "http://[fe80::1]/",
    "http://100.64.0.1/", "http://224.0.0.1/", "http://127.1/", "http://2130706433/",
]


@pytest.mark.parametrize("url", INTERNAL)
async def test_internal_addresses_are_refused_by_default_naming_the_rule(url: str) -> None:
    with pytest.raises(WorkerError) as err:
        await DEFAULT.check_fetch_url(url, "inline_remote")
    message = str(err.value)
    assert message.startswith("inline_remote: ")
    assert "may not reach loopback, private, link-local" in message
    assert "--allow-private-network" in message and "BROWSER_WORKER_ALLOW_PRIVATE_NETWORK" in message


@pytest.mark.parametrize("url", INTERNAL)
async def test_internal_addresses_are_allowed_with_allow_private(url: str) -> None:
    await OPEN.check_fetch_url(url, "inline_remote")


def test_blocked_reasons_name_the_kind() -> None:
    import ipaddress

    ip = ipaddress.ip_address
    assert blocked_reason(ip("127.0.0.1")) == "loopback"
    assert blocked_reason(ip("10.0.0.1")) == "private"
    assert blocked_reason(ip("169.254.1.1")) == "link-local"
    assert blocked_reason(ip("::ffff:127.0.0.1")) == "loopback, embedded in IPv6"
    assert blocked_reason(ip("2002:7f00:1::")) == "loopback, embedded in IPv6"  # 6to4 of 127.0.0.1
    assert blocked_reason(ip("64:ff9b::a00:1")) == "private, embedded in IPv6"  # NAT64 of 10.0.0.1
    assert blocked_reason(ip("93.184.216.34")) is None
    assert blocked_reason(ip("2606:4700::1111")) is None


async def test_name_resolving_to_loopback_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A public-looking name whose DNS answer is internal (here: the resolver answers 127.0.0.1)."""
    real = asyncio.get_running_loop().getaddrinfo

    async def fake(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host == "innocent.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return await real(host, port, *args, **kwargs)

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", fake)
    with pytest.raises(WorkerError, match=r"innocent\.example/x resolves to 127\.0\.0\.1 \(loopback\)"):
        await DEFAULT.check_fetch_url("http://innocent.example/x", "inline_remote")
    await OPEN.check_fetch_url("http://innocent.example/x", "inline_remote")


async def test_public_ip_passes_and_allow_hosts_fences() -> None:
    await DEFAULT.check_fetch_url("https://93.184.216.34/a.css", "inline_remote")
    fenced = NetworkPolicy(allow_hosts=("cdn.example.org",))
    with pytest.raises(WorkerError, match=r"inline_remote: host 93\.184\.216\.34 is not in --allow-hosts \(cdn\.example\.org\)"):
        await fenced.check_fetch_url("https://93.184.216.34/a.css", "inline_remote")


async def test_trusted_hypha_origin_is_reachable_on_loopback() -> None:
    policy = NetworkPolicy(trusted_origins=("http://127.0.0.1:9527",), allow_hosts=("cdn.example.org",))
    await policy.check_fetch_url("http://127.0.0.1:9527/ws/artifacts/app/files/index.html", "entry_point")
    with pytest.raises(WorkerError, match="not in --allow-hosts"):
        await policy.check_fetch_url("http://127.0.0.1:9528/metrics", "entry_point")
    with pytest.raises(WorkerError, match="loopback"):
        await NetworkPolicy(trusted_origins=("http://127.0.0.1:9527",)).check_fetch_url(
            "http://127.0.0.1:9528/metrics", "entry_point")


@pytest.mark.parametrize("url, field, message", [
    ("file:///etc/passwd#", "server_url",
     "server_url: scheme file: is not allowed (rule: pages load only from http:, https:; file: needs --allow-file-urls)"),
    ("javascript:alert(1)", "app_files_base_url", "app_files_base_url: scheme javascript: is not allowed"),
    ("chrome://settings", "entry_point", "entry_point: scheme chrome: is not allowed"),
    ("data:text/html,<b>x</b>", "server_url", "server_url: scheme data: is not allowed"),
    ("//example.org/x", "server_url", "server_url: scheme (none) is not allowed"),
    ("http://user:pw@example.org/", "server_url", "server_url: credentials (user:password@) are not allowed"),
    ("http://example.org/a b", "server_url", "server_url: URLs may not contain whitespace or control characters"),
    ("http://exa\nmple.org/", "server_url", "server_url: URLs may not contain whitespace"),
    ("http:///path", "server_url", "server_url: http: URL has no host"),
    (5, "server_url", "server_url must be a non-empty URL string, got int"),
])
def test_page_urls_refused_naming_field_and_rule(url: object, field: str, message: str) -> None:
    with pytest.raises(WorkerError) as err:
        DEFAULT.check_page_url(url, field)
    assert str(err.value).startswith(message)


def test_file_pages_only_with_the_opt_in_and_where_asked() -> None:
    with_files = NetworkPolicy(allow_file_urls=True)
    assert with_files.check_page_url("file:///srv/app/index.html", "entry_point",
                                     schemes=("http", "https", "file")) == "file:///srv/app/index.html"
    with pytest.raises(WorkerError, match="file: needs --allow-file-urls"):
        DEFAULT.check_page_url("file:///srv/app/index.html", "entry_point", schemes=("http", "https", "file"))
    with pytest.raises(WorkerError, match="scheme file: is not allowed"):
        with_files.check_page_url("file:///etc/passwd", "server_url")  # server_url never asks for file:
    assert DEFAULT.check_page_url("data:text/html,hi", "entry_point", schemes=("http", "https", "data"))
    assert DEFAULT.check_page_url("https://example.org/app/", "server_url") == "https://example.org/app/"


# ----- fetches against a real local server -------------------------------------------------


@pytest_asyncio.fixture(scope="module")
async def site() -> AsyncIterator[str]:
    async def ok(_: web.Request) -> web.Response:
        return web.Response(body=b"hello", content_type="text/plain")

    async def hop(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        raise web.HTTPFound(f"/hop/{n - 1}" if n > 0 else "/ok")

    async def to_localhost(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://localhost:{request.url.port}/ok")

    async def auth_echo(request: web.Request) -> web.Response:
        return web.Response(text="auth" if "Authorization" in request.headers else "none")

    async def to_other_origin(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://localhost:{request.url.port}/auth")

    async def big(_: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        await resp.prepare(_)
        for _i in range(64):
            await resp.write(b"x" * 65536)
        return resp

    async def bomb(_: web.Request) -> web.Response:
        return web.Response(body=gzip.compress(bytes(50 * 1024 * 1024)),
                            headers={"Content-Encoding": "gzip", "Content-Type": "text/css"})

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(3)
        return web.Response(text="late")

    async def missing(_: web.Request) -> web.Response:
        return web.Response(status=404)

    app = web.Application()
    for path, handler in (("/ok", ok), ("/hop/{n}", hop), ("/to-localhost", to_localhost), ("/auth", auth_echo),
                          ("/to-other", to_other_origin), ("/big", big), ("/bomb", bomb), ("/slow", slow),
                          ("/missing", missing)):
        app.router.add_get(path, handler)
    runner, base = await start_site(app)
    yield base
    await runner.cleanup()


def soon(seconds: float = 10.0) -> float:
    return time.monotonic() + seconds


async def test_fetch_refuses_loopback_by_default_and_reads_with_allow_private(site: str) -> None:
    with pytest.raises(WorkerError, match=r"entry: .* resolves to 127\.0\.0\.1 \(loopback\)"):
        await DEFAULT.fetch_bytes(f"{site}/ok", "entry", max_bytes=100, deadline=soon())
    assert await OPEN.fetch_bytes(f"{site}/ok", "entry", max_bytes=100, deadline=soon()) == (b"hello", "text/plain")
    with pytest.raises(WorkerError, match=r"entry: http://127\.0\.0\.1:\d+/missing answered HTTP 404"):
        await OPEN.fetch_bytes(f"{site}/missing?token=secret", "entry", max_bytes=100, deadline=soon())


async def test_redirects_are_followed_up_to_five_and_each_hop_is_checked(site: str) -> None:
    assert (await OPEN.fetch_bytes(f"{site}/hop/4", "entry", max_bytes=100, deadline=soon()))[0] == b"hello"
    with pytest.raises(WorkerError, match=r"entry: more than 5 redirects starting at http://127\.0\.0\.1:\d+/hop/6"):
        await OPEN.fetch_bytes(f"{site}/hop/6", "entry", max_bytes=100, deadline=soon())
    trusted = NetworkPolicy(trusted_origins=(site,))
    assert (await trusted.fetch_bytes(f"{site}/ok", "entry", max_bytes=100, deadline=soon()))[0] == b"hello"
    with pytest.raises(WorkerError, match=r"entry: http://localhost:\d+/ok resolves to .* \(loopback\)"):
        await trusted.fetch_bytes(f"{site}/to-localhost", "entry", max_bytes=100, deadline=soon())


async def test_authorization_is_dropped_on_cross_origin_redirect_and_never_in_errors(site: str) -> None:
    headers = {"Authorization": "Bearer SECRET-TOKEN"}
    assert (await OPEN.fetch_bytes(f"{site}/auth", "entry", max_bytes=100, deadline=soon(), headers=headers))[0] == b"auth"
    assert (await OPEN.fetch_bytes(f"{site}/to-other", "entry", max_bytes=100, deadline=soon(), headers=headers))[0] == b"none"
    with pytest.raises(WorkerError) as err:
        await OPEN.fetch_bytes(f"{site}/missing", "entry", max_bytes=100, deadline=soon(), headers=headers)
    assert "SECRET" not in str(err.value)


async def test_size_cap_and_gzip_bomb(site: str) -> None:
    with pytest.raises(FetchTooLargeError, match=r"entry: http://127\.0\.0\.1:\d+/big is larger than 1000000 bytes"):
        await OPEN.fetch_bytes(f"{site}/big", "entry", max_bytes=1_000_000, deadline=soon())
    started = time.perf_counter()
    with pytest.raises(FetchTooLargeError, match="/bomb is larger than 1000000 bytes"):
        await OPEN.fetch_bytes(f"{site}/bomb", "entry", max_bytes=1_000_000, deadline=soon())
    assert time.perf_counter() - started < 2


async def test_deadline_ends_a_slow_fetch(site: str) -> None:
    started = time.perf_counter()
    with pytest.raises(FetchDeadlineError, match=r"entry: deadline reached while fetching http://127\.0\.0\.1:\d+/slow"):
        await OPEN.fetch_bytes(f"{site}/slow", "entry", max_bytes=100, deadline=soon(0.5))
    assert time.perf_counter() - started < 1.5


async def test_dns_rebinding_is_refused_at_connect_time(site: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The name looks public when checked, then resolves to loopback when the connection is made."""
    port = int(site.rsplit(":", 1)[1])
    real = asyncio.get_running_loop().getaddrinfo

    async def first_check(host, p, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host == "rebind.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", p))]
        return await real(host, p, *args, **kwargs)

    class Rebound:
        async def resolve(self, host: str, p: int = 0, family: int = socket.AF_INET) -> list[dict]:
            return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET,
                     "proto": 0, "flags": 0}]

        async def close(self) -> None:
            return None

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", first_check)
    monkeypatch.setattr(netpolicy, "ThreadedResolver", Rebound)
    with pytest.raises(WorkerError, match=r"entry: rebind\.example resolved to 127\.0\.0\.1 \(loopback\) when connecting"):
        await DEFAULT.fetch_bytes(f"http://rebind.example:{port}/ok", "entry", max_bytes=100, deadline=soon())
