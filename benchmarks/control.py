"""Control of a session (issue 26), through a real Hypha server as a client meets it: ``snapshot``
p50 on a page of about 500 elements; ``act`` (one click) with the snapshot after it, round
trip; viewer input (``send_input``) until the first ``watch`` frame that shows its effect; and a
start with downloads off (a warm pooled context) vs on (a fresh context that accepts them:
Chromium fixes that when a context is made, and warm contexts never accept downloads).

Starts a local Hypha server and a worker registered on it. Run:
  .venv/bin/python benchmarks/control.py [--runs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from typing import Any
from urllib.parse import quote

from common import quiet_logs, summarize, timed

from hypha_rpc import connect_to_server

from browser_worker import BrowserWorker, WorkerSettings, registered
from browser_worker.testing.hypha_server import LocalHyphaServer

#: About 500 elements: 100 rows of a button, a link, a text box, a checkbox and a list item.
BIG = "data:text/html," + quote("""<title>big</title><h1>Five hundred</h1><ul id=list></ul><script>
const list = document.getElementById('list');
for (let i = 0; i < 100; i++) {
  const li = document.createElement('li');
  li.innerHTML = `<button id=b${i}>b${i}</button> <a href="#a${i}">link ${i}</a>
    <input aria-label="field ${i}"> <label><input type=checkbox> check ${i}</label> <span>item ${i}</span>`;
  list.append(li);
}
let n = 0;
document.getElementById('b7').onclick = () => { n += 1; document.querySelector('h1').textContent = 'clicked ' + n; };
</script>""")
#: A still page whose every mouse press shows a new number: the first frame that differs from
#: the one before the input is the one that shows it.
PAD = "data:text/html," + quote("""<title>pad</title><body style="margin:0">
<div id=pad style="width:100vw;height:100vh;font:120px sans-serif">0</div><script>
let n = 0;
document.getElementById('pad').onmousedown = () => { n += 1; pad.textContent = n; };
</script>""")


def config(url: str, **manifest: Any) -> dict[str, Any]:
    client = f"b-{uuid.uuid4().hex[:10]}"
    return {"id": f"ws-user-alice/{client}", "workspace": "ws-user-alice", "client_id": client,
            "app_id": "bench-control", "entry_point": url,
            "manifest": {"type": "web-app", "entry_point": url, **manifest}}


async def main(runs: int) -> None:
    quiet_logs()
    async with LocalHyphaServer() as server:
        token = await server.user_token("alice")
        settings = WorkerSettings.from_env(server_url=server.url, python_pool_size=0)
        async with BrowserWorker(settings) as worker, registered(worker, server.url, token):
            client = await connect_to_server({"server_url": server.url, "token": token})
            worker_id = next(s["id"] for s in await client.list_services({"type": "server-app-worker"})
                             if s["id"].endswith(":browser-worker"))
            remote = await client.get_service(worker_id)
            results = []

            sid = await remote.start(config(BIG))
            first = await remote.snapshot(sid)
            elements = first["snapshot"].count("[ref=")
            samples = [(await timed(lambda: remote.snapshot(sid)))[0] for _ in range(runs)]
            results.append(summarize(f"snapshot, {elements} elements with refs ({first['chars']} chars)", samples))
            click = [{"action": "click", "role": "button", "name": "b7", "exact": True}]
            samples = [(await timed(lambda: remote.act(sid, click, return_snapshot=True)))[0] for _ in range(runs)]
            results.append(summarize("act(click) + snapshot, round trip", samples))
            await remote.stop(sid)

            sid = await remote.start(config(PAD))
            frames = await remote.watch(sid, 10, 60, 1280)
            latest: dict[str, Any] = {"seq": 0, "data": b""}
            news = asyncio.Event()

            async def follow() -> None:
                async for frame in frames:
                    latest.update(seq=frame["seq"], data=bytes(frame["data"]))
                    news.set()

            follower = asyncio.ensure_future(follow())
            await asyncio.wait_for(news.wait(), 15)
            await asyncio.sleep(1)  # the page is still: no frame comes unless something changes
            await remote.take_control(sid)
            samples = []
            for _ in range(runs):
                before = latest["data"]
                news.clear()
                t0 = time.perf_counter()
                await remote.send_input(sid, [{"type": "mouse", "action": "down", "x": 300, "y": 300},
                                              {"type": "mouse", "action": "up", "x": 300, "y": 300}])
                while latest["data"] == before:
                    news.clear()
                    await asyncio.wait_for(news.wait(), 10)
                samples.append((time.perf_counter() - t0) * 1000)
                await asyncio.sleep(0.3)
            results.append(summarize("viewer input → first frame showing it (10 fps watch)", samples))
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)
            await remote.stop(sid)

            for name, manifest in (("start on a warm pooled context (downloads off)", {}),
                                   ("start with downloads on (a fresh context of its own)", {"downloads": True})):
                samples = []
                for _ in range(runs):
                    ms, sid = await timed(lambda: remote.start(config("data:text/html,<p>hi</p>", **manifest)))
                    samples.append(ms)
                    await remote.stop(sid)
                    await asyncio.sleep(0.3)  # the pool refills, as between real starts
                results.append(summarize(name, samples))
            await client.disconnect()
    for row in results:
        print(json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20, help="samples per figure (default 20)")
    asyncio.run(main(parser.parse_args().runs))
