"""Downloads (issue 26): off unless a session asks (manifest or start config ``downloads``);
a 1 MB CSV an app produces is listed and fetched byte-identical; one over the per-file budget
is removed naming it; a session without ``downloads`` keeps none and its logs say why; files go
when the session's logs do; another tenant cannot list or fetch them."""

from __future__ import annotations

from typing import Any

import pytest

from browser_worker import BrowserWorker, PermissionDeniedError

from ._support import wait_for, web_app_config, settle

pytestmark = pytest.mark.e2e

PAGE = "data:text/html,<title>export</title><p>export</p>"
EXPORT = """() => {
  let s = "";
  for (let i = 0; s.length < 1048576; i++) s += i + "," + (i * i) + "\\n";
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([s], {type: "text/csv"}));
  a.download = "data.csv";
  document.body.append(a);
  a.click();
  return s.length;
}"""
BOB = {"ws": "ws-user-bob", "user": {"id": "bob", "roles": []}}


def expected_csv() -> bytes:
    out, i = [], 0
    size = 0
    while size < 1048576:
        row = f"{i},{i * i}\n"
        out.append(row)
        size += len(row)
        i += 1
    return "".join(out).encode()


async def logs_say(worker: BrowserWorker, sid: str, text: str) -> None:
    async def said() -> bool:
        return any(text in i["content"] for i in (await worker.get_logs(sid))["items"])
    for _ in range(150):
        if await said():
            return
        await __import__("asyncio").sleep(0.1)
    raise AssertionError(f"{text!r} not in {[(i['content']) for i in (await worker.get_logs(sid))['items']][-5:]}")


async def test_a_csv_the_app_makes_is_listed_and_fetched_byte_identical(worker: BrowserWorker) -> None:
    sid = await worker.start(web_app_config(PAGE, downloads=True))
    try:
        assert await worker.execute(sid, EXPORT) == len(expected_csv())
        await logs_say(worker, sid, "download kept: data.csv")
        (listed,) = await worker.list_downloads(sid)
        assert (listed["id"], listed["name"], listed["size"]) == ("d1", "data.csv", len(expected_csv()))
        got = await worker.get_download(sid, "d1")
        assert got["bytes"] == expected_csv() and got["name"] == "data.csv"
        for call in (lambda: worker.list_downloads(sid, context=BOB), lambda: worker.get_download(sid, "d1", context=BOB)):
            with pytest.raises(PermissionDeniedError, match=r"^Permission denied: bob \(tenant, workspace ws-user-bob\)"):
                await call()
        assert worker.stats().downloads >= 1
    finally:
        await worker.stop(sid)
    await settle(worker)  # no session, slot or extra context left
    assert (await worker.get_download(sid, "d1"))["bytes"] == expected_csv()  # kept with the logs


async def test_without_downloads_a_session_keeps_none_and_says_why(worker: BrowserWorker) -> None:
    sid = await worker.start(web_app_config(PAGE))
    try:
        await worker.execute(sid, EXPORT)
        await logs_say(worker, sid, "download of data.csv refused: downloads are off for this session "
                                    "(manifest or start config downloads: true turns them on)")
        assert await worker.list_downloads(sid) == []
    finally:
        await worker.stop(sid)
    await settle(worker)  # no session, slot or extra context left


async def test_budgets_and_retention(settings: Any) -> None:
    small = settings.with_(download_max_file_bytes=512 * 1024, log_retention_sessions=1, pool_size=1)
    async with BrowserWorker(small) as w:
        over = await w.start(web_app_config(PAGE, downloads=True))
        await w.execute(over, EXPORT)
        await logs_say(w, over, f"download of data.csv ({len(expected_csv())} bytes) removed: over "
                                "download_max_file_bytes (524288 bytes)")
        assert await w.list_downloads(over) == [] and w.stats().downloads == 0
        await w.stop(over)

        config = web_app_config(PAGE, downloads=True)
        config["manifest"]["downloads"] = None
        config["downloads"] = True  # the start config may ask too
        kept = await w.start(config)
        await w.execute(kept, "() => { const a = document.createElement('a'); "
                              "a.href = URL.createObjectURL(new Blob(['x,y\\n'])); a.download = '../../etc/small.csv'; a.click(); }")
        await logs_say(w, kept, "download kept: ")
        (listed,) = await w.list_downloads(kept)
        assert "/" not in listed["name"] and not listed["name"].startswith(".") and listed["name"].endswith("small.csv")
        assert w.stats().downloads == 1 and w.stats().download_bytes == 4
        await w.stop(kept)
        assert (await w.get_download(kept, "d1"))["bytes"] == b"x,y\n"
        # Retention keeps one ended session: a later one pushes this one out, and its file goes.
        later = await w.start(web_app_config(PAGE))
        await w.stop(later)
        await wait_for(lambda: w.stats().downloads == 0, 10)
        assert w.stats().download_bytes == 0
        await settle(w)


UPLOAD = "data:text/html," + __import__("urllib.parse").parse.quote("""<title>upload</title>
<a download="report.csv" href="data:text/csv,a%2Cb%0A1%2C2%0A">Get the report</a>
<input type=file aria-label="Upload"><h1 id=got>nothing yet</h1>
<script>
document.querySelector('input').onchange = async (e) => {
  const f = e.target.files[0];
  document.getElementById('got').textContent = 'got ' + f.name + ' ' + (await f.text()).length + ' characters';
};
</script>""")


async def test_a_downloaded_file_is_uploaded_again_by_its_id(worker: BrowserWorker) -> None:
    sid = await worker.start(web_app_config(UPLOAD, downloads=True))
    try:
        clicked = await worker.act(sid, [{"action": "click", "role": "link", "name": "Get the report"}])
        assert clicked["ok"], clicked
        await logs_say(worker, sid, "download kept: report.csv")
        (listed,) = await worker.list_downloads(sid)
        done = await worker.act(sid, [{"action": "upload", "role": "button", "name": "Upload",
                                       "files": [{"download": listed["id"]}]}], return_snapshot=True)
        assert done["ok"], done
        for _ in range(50):
            if 'heading "got report.csv 8 characters"' in (await worker.snapshot(sid))["snapshot"]:
                break
            await __import__("asyncio").sleep(0.1)
        assert 'heading "got report.csv 8 characters"' in (await worker.snapshot(sid))["snapshot"]
        with pytest.raises(Exception, match="no download 'd9' in session"):
            await worker.act(sid, [{"action": "upload", "role": "button", "name": "Upload", "files": [{"download": "d9"}]}])
    finally:
        await worker.stop(sid)
    await settle(worker)  # no session, slot or extra context left
