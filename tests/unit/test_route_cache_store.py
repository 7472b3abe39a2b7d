"""Issue 19: the route cache's disk store (LRU index, budget, restarts) and its rules, no browser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from browser_worker._route_cache.rules import (Glob, check_app_id, kept_headers, parse_rule, request_cacheable,
                                         response_storable)
from browser_worker._route_cache.store import BODIES, INDEX, RouteStore, entry_key
from browser_worker.errors import WorkerError

WS, APP = "ws-user-alice", "my-app"
URL = "https://cdn.example.org/lib.js"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


def store(root: Path, max_bytes: int = 1000, max_entry: int = 600) -> RouteStore:
    return RouteStore(root, max_bytes, max_entry, clock=Clock())


def test_put_then_get_and_stats(tmp_path: Path) -> None:
    s = store(tmp_path)
    assert s.get(WS, APP, URL) is None
    assert s.put(WS, APP, URL, 200, {"content-type": "text/javascript"}, b"x" * 100)
    hit = s.get(WS, APP, URL)
    assert hit is not None and hit.body == b"x" * 100 and hit.headers == {"content-type": "text/javascript"}
    stats = s.stats(WS, APP)
    assert (stats["entry_count"], stats["total_size_bytes"], stats["hits"], stats["misses"], stats["stored"]) == (1, 100, 1, 1, 1)
    assert stats["oldest_entry"] == stats["newest_entry"] and stats["enabled"] is True


def test_apps_and_workspaces_never_share_entries(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.put(WS, APP, URL, 200, {}, b"alice")
    assert s.get("ws-user-bob", APP, URL) is None
    assert s.get(WS, "other-app", URL) is None
    assert s.stats("ws-user-bob", APP)["entry_count"] == 0
    # The key separates its parts: ("a", "b/c") and ("a/b", "c") are different apps.
    assert entry_key("a", "b/c", URL) != entry_key("a/b", "c", URL)


def test_budget_evicts_least_recently_used(tmp_path: Path) -> None:
    s = store(tmp_path, max_bytes=1000, max_entry=600)
    for name in ("a", "b", "c"):
        assert s.put(WS, APP, f"{URL}?{name}", 200, {}, b"." * 300)
    assert s.get(WS, APP, f"{URL}?a") is not None  # a is now the most recently used
    assert s.put(WS, APP, f"{URL}?d", 200, {}, b"." * 300)  # 1200 > 1000: b goes
    assert s.get(WS, APP, f"{URL}?b") is None
    assert all(s.get(WS, APP, f"{URL}?{n}") is not None for n in ("a", "c", "d"))
    assert s.total_bytes == 900 <= s.max_bytes
    assert len([p for p in (tmp_path / BODIES).rglob("*") if p.is_file()]) == 3


def test_entries_over_the_entry_limit_are_not_stored(tmp_path: Path) -> None:
    s = store(tmp_path, max_bytes=1000, max_entry=600)
    assert not s.put(WS, APP, URL, 200, {}, b"." * 601)
    assert s.stats(WS, APP)["entry_count"] == 0
    # The entry limit is never above the whole budget.
    assert RouteStore(tmp_path / "x", 100, 600).max_entry_bytes == 100


def test_survives_a_restart_and_drops_what_is_damaged(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.put(WS, APP, URL, 200, {"etag": "1"}, b"kept")
    s.put(WS, APP, URL + "?gone", 200, {}, b"gone")
    s.close()
    assert json.loads((tmp_path / INDEX).read_text())["version"] == 1
    (tmp_path / BODIES / entry_key(WS, APP, URL + "?gone")[:2] / entry_key(WS, APP, URL + "?gone")).unlink()
    orphan = tmp_path / BODIES / "ff" / ("f" * 64)
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"no entry names me")
    again = store(tmp_path)
    hit = again.get(WS, APP, URL)
    assert hit is not None and hit.body == b"kept" and hit.headers == {"etag": "1"}
    assert again.get(WS, APP, URL + "?gone") is None
    assert not orphan.exists()


def test_a_corrupt_index_starts_empty(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.put(WS, APP, URL, 200, {}, b"body")
    s.close()
    (tmp_path / INDEX).write_text("{not json")
    again = store(tmp_path)
    assert again.get(WS, APP, URL) is None and again.stats(WS, APP)["entry_count"] == 0


def test_a_smaller_budget_after_restart_evicts(tmp_path: Path) -> None:
    s = store(tmp_path, max_bytes=1000)
    for n in range(3):
        s.put(WS, APP, f"{URL}?{n}", 200, {}, b"." * 300)
    s.close()
    again = store(tmp_path, max_bytes=400, max_entry=400)
    assert again.stats(WS, APP)["entry_count"] == 1 and again.get(WS, APP, f"{URL}?2") is not None


def test_clear_one_app_only(tmp_path: Path) -> None:
    s = store(tmp_path)
    s.put(WS, APP, URL, 200, {}, b"1")
    s.put(WS, APP, URL + "?2", 200, {}, b"2")
    s.put("ws-user-bob", APP, URL, 200, {}, b"bob")
    assert s.clear(WS, APP) == 2
    assert s.stats(WS, APP)["entry_count"] == 0
    assert s.get("ws-user-bob", APP, URL) is not None
    s.close()
    assert store(tmp_path).stats(WS, APP)["entry_count"] == 0  # the cleared index was written


def test_one_process_per_directory(tmp_path: Path) -> None:
    first = store(tmp_path)
    assert first.put(WS, APP, URL, 200, {}, b"1")
    second = store(tmp_path)
    assert second.get(WS, APP, URL) is None and second.stats(WS, APP)["enabled"] is False
    first.close()
    third = store(tmp_path)
    assert third.get(WS, APP, URL) is not None


def test_budget_zero_is_off(tmp_path: Path) -> None:
    s = RouteStore(tmp_path / "off", 0, 100)
    assert not s.put(WS, APP, URL, 200, {}, b"")
    assert s.get(WS, APP, URL) is None and s.stats(WS, APP)["enabled"] is False
    assert not (tmp_path / "off").exists()


# ----- rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("pattern", "url", "expected"), [
    ("https://cdn.example.org/*", "https://cdn.example.org/a/b.js", True),
    ("https://cdn.example.org/*", "https://cdn.example.org.evil/a.js", False),
    ("*.whl", "https://x.org/pkg-1.0-py3-none-any.whl", True),
    ("*.whl", "https://x.org/pkg.whl?x=1", False),
    ("https://x.org/a?c.js", "https://x.org/abc.js", True),
    ("https://x.org/a.js", "https://x.org/a.js", True),
    ("https://x.org/a.js", "https://x.org/a.jsx", False),
    ("*/lib/*/index.*", "https://x.org/lib/v1/index.js", True),
    ("*/lib/*/index.*", "https://x.org/lib/index.js", False),
    ("https://x.org/*a*a*b", "https://x.org/" + "a" * 3000, False),
    ("*", "http://anything/", True),
])
def test_glob_like_the_builtin(pattern: str, url: str, expected: bool) -> None:
    assert Glob(pattern).matches(url) is expected


def test_parse_rule_defaults_and_bad_values() -> None:
    assert parse_rule({}, "window") is None
    assert parse_rule({"cache_routes": ["https://x/*"], "enable_cache": False}, "window") is None
    rule = parse_rule({"cache_routes": ["https://x/*"]}, "window")
    assert rule is not None and rule.matches("https://x/y") and rule.explicit
    web_python = parse_rule({}, "web-python")
    assert web_python is not None and web_python.matches("https://cdn.jsdelivr.net/pyodide/v0.27/full/numpy.whl")
    assert not web_python.explicit  # the default routes obey the origin's no-store
    for bad, field in (({"enable_cache": "yes"}, "enable_cache"), ({"cache_routes": "https://x/*"}, "cache_routes"),
                       ({"cache_routes": [1]}, r"cache_routes\[0\]"), ({"cache_routes": [""]}, r"cache_routes\[0\]"),
                       ({"cache_routes": ["x"] * 65}, "at most 64"),
                       ({"cache_routes": ["x" * 1000] * 5}, "characters in all")):
        with pytest.raises(WorkerError, match=field):
            parse_rule(bad, "window")


def test_requests_with_credentials_are_never_cached() -> None:
    assert request_cacheable("GET", URL, {"accept": "*/*"})
    assert not request_cacheable("POST", URL, {})
    for header in ("Authorization", "cookie", "range"):
        assert not request_cacheable("GET", URL, {header: "x"})
    for query in ("?access_token=t", "?token=t", "?X-Amz-Signature=s"):
        assert not request_cacheable("GET", URL + query, {})
    assert request_cacheable("GET", URL + "?v=2", {})
    assert not request_cacheable("GET", "https://user:pw@x.org/a.js", {})
    assert not request_cacheable("GET", "https://x.org/" + "a" * 5000, {})


def test_which_responses_are_kept_and_which_headers() -> None:
    assert response_storable(200, {"Content-Type": "text/javascript"})
    assert not response_storable(404, {})
    assert not response_storable(200, {"set-cookie": "s=1"})
    assert not response_storable(200, {"cache-control": "max-age=0, no-store"})
    assert not response_storable(200, {"Cache-Control": "private"})
    # A route the app listed itself is kept whatever the origin's Cache-Control says; what is
    # personal by construction still never is.
    assert response_storable(200, {"cache-control": "no-store"}, explicit=True)
    assert response_storable(200, {"Cache-Control": "private, max-age=0"}, explicit=True)
    assert not response_storable(200, {"set-cookie": "s=1", "cache-control": "no-store"}, explicit=True)
    assert not response_storable(206, {"cache-control": "no-store"}, explicit=True)
    assert not response_storable(404, {}, explicit=True)
    assert not response_storable(200, {"vary": "*"}, explicit=True)
    assert kept_headers({"Content-Type": "a", "Set-Cookie": "s", "Content-Encoding": "gzip",
                         "Content-Length": "9", "ETag": "e"}) == {"content-type": "a", "etag": "e"}


def test_app_ids() -> None:
    assert check_app_id("my-app:1") == "my-app:1"
    for bad in (None, "", "x" * 257, "a\nb", 3):
        with pytest.raises(WorkerError, match="app_id"):
            check_app_id(bad)


def test_install_time_entries_move_to_the_app_in_their_workspace_only(tmp_path: Path) -> None:
    from browser_worker._route_cache.rules import install_key

    s = store(tmp_path)
    pending = install_key("sha256:" + "ab" * 32)
    assert pending is not None and install_key("sha256:abc") is None and install_key(None) is None
    assert s.put(WS, pending, URL, 200, {"content-type": "text/javascript"}, b"a" * 50)
    assert s.put(WS, pending, URL + "?v=2", 200, {}, b"b" * 60)
    assert s.put(WS, APP, URL + "?v=2", 200, {}, b"own" * 10)  # the app's own copy stays
    assert s.adopt("ws-user-bob", pending, APP) == 0  # another workspace: nothing moves
    assert s.adopt(WS, pending, APP) == 1
    assert s.stats(WS, pending)["entry_count"] == 0
    hit = s.get(WS, APP, URL)
    assert hit is not None and hit.body == b"a" * 50
    assert s.get(WS, APP, URL + "?v=2").body == b"own" * 10  # type: ignore[union-attr]
    assert s.get("ws-user-bob", APP, URL) is None
    s.close()
    again = store(tmp_path)  # the move is on disk: after a restart it is still the app's
    assert again.get(WS, APP, URL).body == b"a" * 50  # type: ignore[union-attr]
    assert again.total_bytes == 50 + 30
    assert len([p for d in (tmp_path / BODIES).iterdir() for p in d.iterdir()]) == 2  # no orphan body


def test_bundle_urls_are_the_absolute_ones_it_loads_as_it_opens() -> None:
    from browser_worker._route_cache.install import bundle_urls
    from browser_worker._render.templates import render_window

    page = ('<!doctype html><html><head><script src="https://cdn.example.org/a.js"></script>'
            '<link rel="stylesheet" href="https://cdn.example.org/a.css"><link rel="canonical" href="https://x.org/">'
            '<script src="local.js"></script><script src="data:text/javascript,1"></script></head>'
            '<body><img src="http://img.example.org/p.png"><script src="https://cdn.example.org/a.js"></script>'
            '<a href="https://not-loaded.example.org/">x</a></body></html>')
    assert bundle_urls(page) == ["https://cdn.example.org/a.js", "https://cdn.example.org/a.css",
                                 "http://img.example.org/p.png"]
    window = render_window("api.export({})", requirements=["https://cdn.example.org/req.js", "pkg-name"],
                           window_html='<script src="https://cdn.example.org/in-markup.js"></script>')
    assert bundle_urls(window) == ["https://cdn.example.org/req.js", "https://cdn.example.org/in-markup.js"]
    assert bundle_urls("") == [] and bundle_urls("<<<not html") == []
