"""Starts with several Hypha replicas behind one balancer and the worker on another host (issue 29).

Two Hypha replicas on one real redis-server behind one TCP balancer, one `browser-worker serve`
in a network namespace of its own that reaches them only through the balancer
(browser_worker.testing.replicas). Counts the starts that succeed through the asking replica's
own controller (alternating replicas): --round-robin starts with a round-robin balancer, then
--source-hash starts with a balancer sticky by source address; then SIGKILLs the worker, starts
it again and counts both again. Each start has --timeout seconds (a failure costs that much).

Needs root (ip netns) and redis-server. Run: .venv/bin/python benchmarks/replicas.py [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import quiet_logs

from browser_worker.testing.netns import NetnsUnavailable
from browser_worker.testing.replicas import RemoteWorkerDeployment, summary


async def phase(dep: RemoteWorkerDeployment, mode: str, count: int) -> dict[str, Any]:
    dep.use_balancer(mode)
    t0 = time.monotonic()
    results = await dep.run(count)
    return {"balancer": mode, **summary(results), "wall_s": round(time.monotonic() - t0, 1)}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    log_dir = Path(args.log_dir or tempfile.mkdtemp(prefix="bw-replicas-"))
    out: dict[str, Any] = {"log_dir": str(log_dir), "timeout_s": args.timeout, "phases": []}
    async with RemoteWorkerDeployment(log_dir=log_dir, start_timeout=args.timeout) as dep:
        out["replicas_unreachable_from_worker_host"] = dep.unreachable_replicas()
        out["install_failures"] = await dep.install()
        for label in ("first worker", "after SIGKILL and restart"):
            if label != "first worker":
                out["worker_back_s"] = round(await dep.restart_worker(), 2)
            for mode, count in (("round-robin", args.round_robin), ("source-hash", args.source_hash)):
                result = {"worker": label, **await phase(dep, mode, count)}
                out["phases"].append(result)
                if not args.json:
                    print(f"{label:28} {mode:12} {result['succeeded']}/{result['attempted']} "
                          f"(pages on the other replica: {result['landed_elsewhere']}, p50 {result['p50_s']} s, "
                          f"{result['wall_s']} s)", flush=True)
        out["balancer_connections"] = {str(k): v for k, v in dep.cluster.proxy.landed.items()}  # type: ignore[union-attr]
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--round-robin", type=int, default=32, help="starts with a round-robin balancer (default 32)")
    parser.add_argument("--source-hash", type=int, default=16, help="starts with a source-hash balancer (default 16)")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds each start may take (default 20)")
    parser.add_argument("--log-dir", help="where the servers' and the worker's logs go (default: a new temp dir)")
    parser.add_argument("--json", action="store_true")
    quiet_logs()
    try:
        report = asyncio.run(main(parser.parse_args()))
    except NetnsUnavailable as exc:
        sys.exit(f"cannot make a worker host here: {exc}")
    print(json.dumps(report, indent=2) if "--json" in sys.argv else
          "\n".join(f"failed: {e}" for p in report["phases"] for e in p["errors"][:4]))
