"""Local Hypha servers for tests, the demo and ``serve``'s embedded default (no
``--server-url``): a server process, several on one Redis (``cluster``), and the worker
registered on one; a worker host of its own in a network namespace (``netns``) and replicas
behind a balancer with a worker there (``replicas``).
Needs the ``server`` extra; nothing in the runtime packages imports it."""

from browser_worker.testing.embedded_default import embedded, run_demo
from browser_worker.testing.whitebox import internals

__all__ = [
    "internals",
    "embedded",
    "run_demo",
]
