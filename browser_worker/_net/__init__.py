"""Network rules and helpers: which URLs pages and the worker's own fetches may reach
(``NetworkPolicy``), URL helpers, a loopback HTTP site, and the Hypha instances of a deployment."""

from browser_worker._net.instances import ServerInstances
from browser_worker._net.loopback import start_site
from browser_worker._net.policy import FetchDeadlineError, FetchTooLargeError, NetworkPolicy
from browser_worker._net.urls import display_url, origin_of

__all__ = [
    "display_url",
    "FetchDeadlineError",
    "FetchTooLargeError",
    "NetworkPolicy",
    "origin_of",
    "ServerInstances",
    "start_site",
]
