"""Which Hypha instance a page connects to (several servers on one Redis): fakes, no network."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from browser_worker._net.instances import BAD_FOR, ServerInstances
from browser_worker.errors import WorkerError
from browser_worker.testing import internals

if TYPE_CHECKING:
    from browser_worker import BrowserWorker

HOME = "http://127.0.0.1:9001"
PEER = "http://127.0.0.1:9002"
DEPLOYMENT = "https://hypha.example.org"


class FakeServers:
    """``/assets/config.json`` answers by server URL; counts the requests."""

    def __init__(self, answers: dict[str, object]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def __call__(self, url: str) -> dict:
        self.asked.append(url)
        answer = self.answers.get(url, ConnectionRefusedError("refused"))
        if isinstance(answer, BaseException):
            raise answer
        if answer == "hang":
            await asyncio.sleep(3600)
        return answer  # type: ignore[return-value]


def instances(answers: dict[str, object], now: list[float] | None = None) -> tuple[ServerInstances, FakeServers]:
    fake = FakeServers(answers)
    clock = (lambda: now[0]) if now is not None else (lambda: 0.0)
    found = ServerInstances(HOME, fetch=fake, clock=clock)
    found.connected(DEPLOYMENT)
    return found, fake


async def test_the_worker_s_own_server_is_used_without_asking() -> None:
    found, fake = instances({})
    route = await found.route(HOME + "/")
    assert route.server_url == HOME + "/" and route.reason is None
    assert fake.asked == []


async def test_another_instance_of_the_deployment_is_used_as_given() -> None:
    found, fake = instances({PEER: {"public_base_url": DEPLOYMENT + "/", "server_id": "b"}})
    route = await found.route(PEER)
    assert (route.server_url, route.reason) == (PEER, None)
    assert fake.asked == [PEER]


async def test_an_unreachable_instance_falls_back_to_the_worker_s_server_naming_why() -> None:
    found, _ = instances({})
    route = await found.route(PEER)
    assert route.server_url == HOME
    assert route.reason is not None
    assert "127.0.0.1:9002" in route.reason and "unreachable: ConnectionRefusedError" in route.reason
    assert "connects to http://127.0.0.1:9001" in route.reason


async def test_a_server_of_another_deployment_is_not_used() -> None:
    found, _ = instances({PEER: {"public_base_url": "https://evil.example.com"}})
    route = await found.route(PEER)
    assert route.server_url == HOME
    assert route.reason is not None and "another Hypha deployment" in route.reason


@pytest.mark.parametrize("answer", [{"hello": 1}, ["public_base_url"], {"public_base_url": 7}, {"public_base_url": ""}])
async def test_an_answer_that_is_not_hypha_s_server_info_is_not_used(answer: object) -> None:
    found, _ = instances({PEER: answer})
    route = await found.route(PEER)
    assert route.server_url == HOME and "does not answer as a Hypha server" in (route.reason or "")


async def test_a_server_that_never_answers_costs_the_probe_deadline_not_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("browser_worker._net.instances.PROBE_TIMEOUT", 0.05)
    found, _ = instances({PEER: "hang"})
    route = await asyncio.wait_for(found.route(PEER), 5)
    assert route.server_url == HOME and "no answer within" in (route.reason or "")


async def test_answers_are_cached_and_a_failure_is_asked_again_later() -> None:
    now = [0.0]
    found, fake = instances({}, now)
    await found.route(PEER)
    await found.route(PEER)
    assert fake.asked == [PEER]  # one probe for both starts
    fake.answers[PEER] = {"public_base_url": DEPLOYMENT}
    now[0] = BAD_FOR + 1
    assert (await found.route(PEER)).reason is None  # the instance came back
    assert fake.asked == [PEER, PEER]


async def test_concurrent_starts_share_one_probe() -> None:
    found, fake = instances({PEER: {"public_base_url": DEPLOYMENT}})
    routes = await asyncio.gather(*(found.route(PEER) for _ in range(10)))
    assert all(r.reason is None for r in routes)
    assert fake.asked == [PEER]


async def test_without_connection_info_the_home_server_s_answer_names_the_deployment() -> None:
    fake = FakeServers({HOME: {"public_base_url": DEPLOYMENT}, PEER: {"public_base_url": DEPLOYMENT}})
    found = ServerInstances(HOME, fetch=fake)
    assert (await found.route(PEER)).reason is None
    assert sorted(fake.asked) == [HOME, PEER]


def test_a_verified_instance_is_reachable_under_allow_hosts() -> None:
    from browser_worker._net.policy import NetworkPolicy

    policy = NetworkPolicy(allow_hosts=("cdn.example.org",), trusted_origins=(HOME,))
    assert not policy.host_allowed(PEER + "/ws")
    policy.trust_instance(PEER + "/base")
    assert policy.host_allowed(PEER + "/ws") and policy.is_trusted(PEER + "/x")
    assert not policy.host_allowed("http://127.0.0.1:9003/")  # only that origin


TENANT = {"ws": "ws-user-mallory", "user": {"id": "mallory", "roles": [], "scope": {}}}
ADMIN = {"ws": "public", "user": {"id": "root", "roles": ["admin"], "is_anonymous": False}}


def start_config(server_url: str) -> dict:
    return {"id": "ws-user-mallory/c1", "workspace": "ws-user-mallory", "client_id": "c1",
            "app_id": "a", "server_url": server_url, "token": "t",
            "app_files_base_url": server_url + "/ws-user-mallory/artifacts/a/files",
            "entry_point": "index.html", "manifest": {"type": "window"}}


def worker_knowing_peer() -> tuple["BrowserWorker", FakeServers]:
    """A worker (not opened) registered on HOME under --allow-hosts, whose deployment has PEER."""
    from browser_worker import BrowserWorker, WorkerSettings

    worker = BrowserWorker(WorkerSettings(server_url=HOME, allow_hosts="cdn.example.org"))
    fake = FakeServers({PEER: {"public_base_url": DEPLOYMENT}})
    internals(worker).instances = ServerInstances(HOME, fetch=fake)
    internals(worker).instances.connected(DEPLOYMENT)
    return worker, fake


@pytest.mark.parametrize("context", [TENANT], ids=["tenant"])
async def test_a_tenant_cannot_make_the_worker_trust_or_probe_a_server(context: dict) -> None:
    """Only the app controller (root) may send a page to another instance; a tenant's
    server_url stays under --allow-hosts and is never probed or trusted."""
    worker, fake = worker_knowing_peer()
    with pytest.raises(WorkerError, match="not running"):  # the worker is not open
        await worker.start(start_config(PEER), context=context)
    assert fake.asked == [] and internals(worker).net.server_origins == (HOME,)


async def test_the_controller_s_instance_is_probed_and_trusted() -> None:
    worker, fake = worker_knowing_peer()
    with pytest.raises(WorkerError, match="not running"):  # the worker is not open
        await worker.start(start_config(PEER), context=ADMIN)
    assert fake.asked == [PEER] and internals(worker).net.server_origins == (HOME, PEER)


async def test_an_unusable_instance_is_replaced_in_the_start_with_a_note() -> None:
    from browser_worker._door.calls import Limits
    from browser_worker._door.start import parse_start, reroute_start
    from browser_worker._net.policy import NetworkPolicy

    net, limits = NetworkPolicy(), Limits()
    raw = start_config(PEER)
    req = parse_start(raw, workspace=None, limits=limits, net=net)
    moved = reroute_start(raw, req, HOME, "why", limits=limits, net=net)
    assert moved.server_url == HOME and moved.files_base_url == HOME + "/ws-user-mallory/artifacts/a/files"
    assert (moved.session_id, moved.notes, moved.token) == (req.session_id, ("why",), "t")
