"""Where the worker may go: the URL rules for pages and for server-side fetches, in one place.

Two kinds of URL arrive from callers. *Page URLs* (a start's ``server_url``, files base, a
web-app's entry) are loaded by Chromium: they must be ``http(s)`` (``data:`` where meant,
``file:`` only when the operator opted in), without credentials or control characters.
*Fetch URLs* are read by the worker itself (``inline_remote``, a start's entry file): besides
the page rules they must not reach loopback, private, link-local or other internal addresses
(that would let any caller read the worker's host network), unless the operator allows it or
the URL is one of the Hypha servers the worker is registered with. Addresses are checked when
the URL is accepted *and* again when a connection is made (a custom resolver), so a name that
re-resolves to an internal address between the two (DNS rebinding) is still refused.
Redirects are followed by hand, each hop checked like the first.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
import zlib
from dataclasses import dataclass, field, replace
from typing import Any, Mapping
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from browser_worker._net.urls import DEFAULT_PORTS, display_url, origin_of, origin_parts
from browser_worker.errors import WorkerError

PRIVATE_ENV = "BROWSER_WORKER_ALLOW_PRIVATE_NETWORK"
PRIVATE_HINT = f"allow it with --allow-private-network or {PRIVATE_ENV}=1"
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
IP = ipaddress.IPv4Address | ipaddress.IPv6Address


class FetchTooLargeError(WorkerError):
    """A fetched body went over its size cap (callers may re-word it naming their budget)."""

    def __init__(self, message: str, url: str, limit: int) -> None:
        super().__init__(message)
        self.url, self.limit = url, limit


class FetchDeadlineError(WorkerError):
    """A fetch did not finish before its deadline."""

    def __init__(self, message: str, url: str) -> None:
        super().__init__(message)
        self.url = url


@dataclass(frozen=True)
class Fetched:
    """A fetched 200 response: its body and headers (names in lower case)."""

    body: bytes
    headers: dict[str, str]

    @property
    def content_type(self) -> str | None:
        return self.headers.get("content-type", "").split(";")[0].strip().lower() or None


class BlockedAddressError(OSError):
    """Raised by the guarded resolver; aiohttp wraps it, :meth:`NetworkPolicy.fetch_bytes`
    unwraps it into a :class:`WorkerError` naming the rule."""


def blocked_reason(ip: IP) -> str | None:
    """Why a server-side fetch may not reach ``ip`` (None: a public address)."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in ipaddress.ip_network("64:ff9b::/96"):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            inner = blocked_reason(embedded)
            return f"{inner}, embedded in IPv6" if inner else None
    for kind in ("loopback", "link_local", "unspecified", "multicast", "reserved", "private"):
        if getattr(ip, f"is_{kind}"):
            return kind.replace("_", "-")
    return None if ip.is_global else "not globally routable"


@dataclass(frozen=True)
class NetworkPolicy:
    """The operator's network rules (flags/env), applied to every URL a caller hands in."""

    #: Let server-side fetches reach loopback/private/link-local addresses.
    allow_private: bool = False
    #: Host names server-side fetches may reach; empty: any (subject to the private rule).
    allow_hosts: tuple[str, ...] = ()
    #: Let pages load from ``file:`` URLs (only where the caller asks for ``file`` too).
    allow_file_urls: bool = False
    #: Origins of the Hypha server(s) the worker is registered with, e.g.
    #: ``http://127.0.0.1:9527``: always reachable, even on loopback.
    trusted_origins: tuple[str, ...] = ()
    #: Other instances of the same Hypha deployment, added once checked (``instances.py``).
    _instances: set[str] = field(default_factory=set, init=False, compare=False, repr=False)

    def trust_instance(self, server_url: str) -> None:
        """Treat another verified instance of the worker's Hypha deployment as its server."""
        self._instances.add(origin_of(server_url))

    @property
    def server_origins(self) -> tuple[str, ...]:
        """The Hypha server origins pages and fetches may always reach."""
        return self.trusted_origins + tuple(sorted(self._instances))

    # ----- page URLs ----------------------------------------------------------------------

    def check_page_url(self, url: object, field: str, *, schemes: tuple[str, ...] = ("http", "https")) -> str:
        """``url`` if a page may be loaded from it; else a WorkerError naming ``field`` and the rule."""
        if not isinstance(url, str) or not url:
            raise WorkerError(f"{field} must be a non-empty URL string, got {type(url).__name__}")
        if any(ord(c) <= 0x20 or 0x7F <= ord(c) <= 0x9F or c.isspace() for c in url):
            raise WorkerError(f"{field}: URLs may not contain whitespace or control characters")
        allowed = tuple(s for s in schemes if s != "file" or self.allow_file_urls)
        rule = f"rule: pages load only from {', '.join(s + ':' for s in allowed)}"
        if "file" not in allowed:
            rule += "; file: needs --allow-file-urls"
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError as exc:
            raise WorkerError(f"{field}: malformed URL ({exc})") from None
        scheme = parts.scheme.lower()
        if scheme not in allowed:
            shown = f"{scheme}:" if scheme else "(none)"
            raise WorkerError(f"{field}: scheme {shown} is not allowed ({rule})")
        if scheme in DEFAULT_PORTS:
            if not parts.hostname:
                raise WorkerError(f"{field}: {scheme}: URL has no host")
            if "@" in parts.netloc:
                raise WorkerError(f"{field}: credentials (user:password@) are not allowed in URLs")
        return url

    # ----- server-side fetches ------------------------------------------------------------

    def is_trusted(self, url: str) -> bool:
        origin = origin_parts(url)
        return origin is not None and any(origin == origin_parts(t) for t in self.server_origins)

    def host_allowed(self, url: str) -> bool:
        """The one ``--allow-hosts`` rule, for page requests and server-side fetches alike."""
        origin = origin_parts(url)
        return origin is not None and bool(origin[1]) and self._host_allowed(origin[1], origin[2])

    def _host_allowed(self, host: str, port: int) -> bool:
        """Any host when the list is empty; else a listed host, or the Hypha server's origin."""
        host = host.lower().rstrip(".")
        if self.allow_hosts and host not in {h.lower().rstrip(".") for h in self.allow_hosts}:
            return any((o := origin_parts(t)) is not None and o[1:] == (host, port) for t in self.server_origins)
        return True

    async def check_fetch_url(self, url: str, field: str) -> None:
        """Refuse a URL the worker itself may not fetch (scheme, host list, internal addresses)."""
        self.check_page_url(url, field)
        scheme, host, port = origin_parts(url) or ("", "", 0)
        if not self._host_allowed(host, port):
            raise WorkerError(
                f"{field}: host {host} is not in --allow-hosts ({', '.join(self.allow_hosts)}); "
                "server-side fetches reach only those hosts"
            )
        if self.allow_private or self.is_trusted(url):
            return
        for ip in await _addresses(host, port, field):
            reason = blocked_reason(ip)
            if reason:
                raise WorkerError(self._blocked_message(field, display_url(url), ip, reason))

    def _blocked_message(self, field: str, shown: str, ip: IP, reason: str) -> str:
        return (f"{field}: {shown} resolves to {ip} ({reason}); server-side fetches may not reach "
                f"loopback, private, link-local or other internal addresses ({PRIVATE_HINT})")

    def guarded_session(self, *, timeout: float, **kwargs: Any) -> aiohttp.ClientSession:
        """An aiohttp session whose connections re-check every resolved address (DNS rebinding),
        never uses proxies from the environment and does not decompress on its own."""
        connector = aiohttp.TCPConnector(resolver=_GuardedResolver(self), limit=kwargs.pop("limit", 8))
        return aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=timeout), trust_env=False,
            auto_decompress=False, **kwargs,
        )

    async def fetch_bytes(
        self,
        url: str,
        field: str,
        *,
        max_bytes: int,
        deadline: float,
        headers: Mapping[str, str] | None = None,
        session: aiohttp.ClientSession | None = None,
        trust_redirects: bool = False,
    ) -> tuple[bytes, str | None]:
        """GET ``url`` (HTTP 200 only) → (body, content type), at most ``max_bytes`` and done
        before ``deadline`` (a ``time.monotonic()`` value). Redirects: up to 5, each checked.

        With ``trust_redirects``, a fetch that starts at a trusted origin (the Hypha server)
        follows that server's redirects wherever they point, e.g. to its own S3 store."""
        got = await self.fetch(url, field, max_bytes=max_bytes, deadline=deadline, headers=headers,
                               session=session, trust_redirects=trust_redirects)
        return got.body, got.content_type

    async def fetch(
        self,
        url: str,
        field: str,
        *,
        max_bytes: int,
        deadline: float,
        headers: Mapping[str, str] | None = None,
        session: aiohttp.ClientSession | None = None,
        trust_redirects: bool = False,
    ) -> Fetched:
        """:meth:`fetch_bytes` with the response's headers."""
        if trust_redirects and session is None and self.is_trusted(url):
            trusted = replace(self, allow_private=True)
            trusted._instances.update(self._instances)
            return await trusted.fetch(url, field, max_bytes=max_bytes, deadline=deadline, headers=headers)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchDeadlineError(f"{field}: deadline reached before fetching {display_url(url)}", url)
        own = session is None
        http = session or self.guarded_session(timeout=remaining)
        try:
            async with asyncio.timeout(remaining):
                return await self._follow(http, url, field, max_bytes, dict(headers or {}))
        except TimeoutError:
            raise FetchDeadlineError(f"{field}: deadline reached while fetching {display_url(url)}", url) from None
        finally:
            if own:
                await http.close()

    async def _follow(self, http: aiohttp.ClientSession, url: str, field: str, max_bytes: int,
                      headers: dict[str, str]) -> Fetched:
        first = url
        for _hop in range(MAX_REDIRECTS + 1):
            await self.check_fetch_url(url, field)
            try:
                async with http.get(url, headers={**headers, "Accept-Encoding": "gzip, deflate"},
                                    allow_redirects=False) as resp:
                    location = resp.headers.get("Location")
                    if resp.status in REDIRECTS and location:
                        nxt = urljoin(url, location)
                        if origin_parts(nxt) != origin_parts(url):
                            headers = {k: v for k, v in headers.items()
                                       if k.lower() not in ("authorization", "cookie")}
                        url = nxt
                        continue
                    if resp.status != 200:
                        raise WorkerError(f"{field}: {display_url(url)} answered HTTP {resp.status}")
                    body = await _read_capped(resp, url, field, max_bytes)
                    return Fetched(body, {k.lower(): v for k, v in resp.headers.items()})
            except TimeoutError:
                raise  # aiohttp's own timeouts too: fetch_bytes reports them as the deadline
            except aiohttp.ClientConnectorError as exc:
                if isinstance(exc.os_error, BlockedAddressError):
                    raise WorkerError(f"{field}: {exc.os_error.args[0]}") from None
                raise WorkerError(f"{field}: could not connect to {display_url(url)} "
                                  f"({type(exc.os_error).__name__})") from None
            except aiohttp.ClientError as exc:
                raise WorkerError(f"{field}: could not fetch {display_url(url)} ({type(exc).__name__})") from None
        raise WorkerError(f"{field}: more than {MAX_REDIRECTS} redirects starting at {display_url(first)}")


async def _read_capped(resp: aiohttp.ClientResponse, url: str, field: str, max_bytes: int) -> bytes:
    """The body, decompressed by hand with the cap applied to the *decompressed* size."""
    too_big = FetchTooLargeError(f"{field}: {display_url(url)} is larger than {max_bytes} bytes", url, max_bytes)
    if (resp.content_length or 0) > max_bytes and not resp.headers.get("Content-Encoding"):
        raise too_big
    encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("identity", "", "gzip", "x-gzip", "deflate"):
        raise WorkerError(f"{field}: {display_url(url)} uses Content-Encoding {encoding}, which is not supported")
    inflate = zlib.decompressobj(47) if encoding not in ("identity", "") else None  # 47: gzip or zlib header
    data = bytearray()
    try:
        async for chunk in resp.content.iter_chunked(64 * 1024):
            data += inflate.decompress(chunk, max_bytes + 1 - len(data)) if inflate else chunk
            if len(data) > max_bytes or (inflate is not None and inflate.unconsumed_tail):
                raise too_big
    except zlib.error:
        raise WorkerError(f"{field}: {display_url(url)} sent a corrupt {encoding} body") from None
    return bytes(data)


async def _addresses(host: str, port: int, field: str) -> list[IP]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise WorkerError(f"{field}: could not resolve host {host} ({exc})") from None
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


class _GuardedResolver(AbstractResolver):
    """Resolves like aiohttp's default, then refuses internal addresses at connect time."""

    def __init__(self, policy: NetworkPolicy) -> None:
        self._policy = policy
        self._inner = ThreadedResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        trusted = any((o := origin_parts(t)) is not None and o[1:] == (host.lower().rstrip("."), port)
                      for t in self._policy.server_origins)
        if not (self._policy.allow_private or trusted):
            for result in results:
                ip = ipaddress.ip_address(result["host"].split("%")[0])
                reason = blocked_reason(ip)
                if reason:
                    raise BlockedAddressError(
                        f"{host} resolved to {ip} ({reason}) when connecting; server-side fetches may "
                        f"not reach internal addresses ({PRIVATE_HINT})")
        return results

    async def close(self) -> None:
        await self._inner.close()
