"""``EntryCache``: a compiled bundle is found only by the digest of its own bytes, and only in the
workspace it was filed for (a caller-named hash must never fetch another tenant's page)."""

from __future__ import annotations

import hashlib

import pytest

from browser_worker._start.entry_cache import EntryCache, content_hash

PAGE = "<!doctype html><p>alice's app</p>"
OTHER = "<!doctype html><p>bob's app</p>"


def test_content_hash_is_sha256_of_the_utf8_bytes() -> None:
    assert content_hash(PAGE) == "sha256:" + hashlib.sha256(PAGE.encode()).hexdigest()
    assert content_hash("é") == "sha256:" + hashlib.sha256("é".encode()).hexdigest()
    assert content_hash("\ud800").startswith("sha256:")  # a lone surrogate does not raise


def test_put_files_under_the_digest_it_computes() -> None:
    cache = EntryCache()
    digest = cache.put("ws-a", PAGE)
    assert digest == content_hash(PAGE)
    assert cache.get("ws-a", digest) == PAGE
    assert len(cache) == 1


def test_a_digest_is_bound_to_its_workspace() -> None:
    cache = EntryCache()
    digest = cache.put("ws-a", PAGE)
    assert cache.get("ws-b", digest) is None
    assert cache.get("ws-a ", digest) is None
    assert cache.get("WS-A", digest) is None
    # The same bytes filed for b too are b's own copy; a's stays a's.
    cache.put("ws-b", PAGE)
    assert cache.get("ws-b", digest) == PAGE and cache.get("ws-a", digest) == PAGE
    assert len(cache) == 2


def test_a_digest_is_bound_to_its_content() -> None:
    cache = EntryCache()
    cache.put("ws-a", PAGE)
    other = content_hash(OTHER)
    assert cache.get("ws-a", other) is None  # a hash of other content finds nothing
    cache.put("ws-a", OTHER)
    assert cache.get("ws-a", other) == OTHER and cache.get("ws-a", content_hash(PAGE)) == PAGE


@pytest.mark.parametrize("wanted", [
    None, 5, "", "sha256:", "sha256:xyz", "md5:" + "0" * 32, "SHA256:" + "0" * 64,
    "sha256:" + "A" * 64,  # upper-case hex is not what put files under
    "sha256:" + "0" * 63, "sha256:" + "0" * 65, " sha256:" + "0" * 64, "sha256:" + "0" * 64 + "\n",
])
def test_malformed_hashes_find_nothing(wanted: object) -> None:
    cache = EntryCache()
    cache.put("ws-a", PAGE)
    assert cache.get("ws-a", wanted) is None  # type: ignore[arg-type]


def test_a_hash_named_by_the_caller_is_never_trusted() -> None:
    """Even the digest of the right content in the right workspace finds nothing unless that
    content itself was put there."""
    cache = EntryCache()
    cache.put("ws-a", OTHER)
    assert cache.get("ws-a", content_hash(PAGE)) is None
    assert cache.get("ws-a", content_hash(OTHER).upper().replace("SHA256", "sha256")) is None


def test_oldest_entries_go_first_when_over_budget() -> None:
    cache = EntryCache(max_bytes=100)
    pages = [f"{i}" * 40 for i in range(4)]  # 40 characters each
    digests = [cache.put("ws", p) for p in pages[:2]]
    assert cache.get("ws", digests[0]) == pages[0]  # touched: now the newest
    digests.append(cache.put("ws", pages[2]))  # 120 > 100: the least recently used goes
    assert cache.get("ws", digests[1]) is None
    assert cache.get("ws", digests[0]) == pages[0] and cache.get("ws", digests[2]) == pages[2]
    assert len(cache) == 2


def test_putting_the_same_page_again_does_not_count_it_twice() -> None:
    cache = EntryCache(max_bytes=100)
    for _ in range(10):
        digest = cache.put("ws", "x" * 60)
    assert len(cache) == 1 and cache.get("ws", digest) == "x" * 60


def test_a_page_larger_than_the_budget_is_not_kept_but_hashed() -> None:
    cache = EntryCache(max_bytes=10)
    kept = cache.put("ws", "small")
    digest = cache.put("ws", "y" * 11)
    assert digest == content_hash("y" * 11)
    assert cache.get("ws", digest) is None
    assert cache.get("ws", kept) == "small"  # and it did not push out what was there
