"""Compile time: an app with ~1 MB of mixed assets, and a 10-file app.

The mixed app: index.html with 4 scripts (~100 KB each), 3 stylesheets with url() to 6 images
(~60 KB each) and 2 fonts (~100 KB each) — about 1 MB in all. The 10-file app: index.html, 4
small scripts, 3 stylesheets, 2 images. Prints the median of --runs compiles (no server, no
browser: this is what `compile` costs the worker at install). Target: ≤ 0.3 s for 1 MB.
Run: .venv/bin/python benchmarks/compile.py
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import statistics
import sys
import time

from browser_worker._compile.compiler import compile_app


def blob(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def js(size: int, seed: int) -> str:
    line = f"window.v{seed} = (window.v{seed} || 0) + {seed}; // filler text for size\n"
    return line * (size // len(line))


def mixed_app(scale: int) -> list[dict]:
    files = []
    head, body = [], []
    for i in range(4):
        files.append({"path": f"js/s{i}.js", "content": js(100_000 // scale, i), "format": "text"})
        body.append(f'<script src="js/s{i}.js"></script>')
    for i in range(6):
        files.append({"path": f"img/i{i}.png", "content": base64.b64encode(blob(60_000 // scale, i)).decode(), "format": "base64"})
    for i in range(2):
        files.append({"path": f"fonts/f{i}.woff2", "content": base64.b64encode(blob(100_000 // scale, 10 + i)).decode(), "format": "base64"})
    for i in range(3):
        rules = "\n".join(f".c{i}{k} {{ background: url(../img/i{(i + k) % 6}.png); }}" for k in range(2))
        if i == 0:
            rules += "\n" + "\n".join(f"@font-face {{ font-family: F{k}; src: url('../fonts/f{k}.woff2'); }}" for k in range(2))
        files.append({"path": f"css/c{i}.css", "content": rules, "format": "text"})
        head.append(f'<link rel="stylesheet" href="css/c{i}.css">')
    html = f"<!doctype html><html><head>{''.join(head)}</head><body><h1>app</h1>{''.join(body)}</body></html>"
    return [{"path": "index.html", "content": html, "format": "text"}] + files


def ten_files() -> list[dict]:
    """index.html + 4 scripts + 3 stylesheets + 2 images = 10 files."""
    files = [{"path": f"js/s{i}.js", "content": js(2_000, i), "format": "text"} for i in range(4)]
    files += [{"path": f"img/i{i}.png", "content": base64.b64encode(blob(2_000, i)).decode(), "format": "base64"}
              for i in range(2)]
    files += [{"path": f"css/c{i}.css", "content": f".c{i} {{ background: url(../img/i{i % 2}.png); }}", "format": "text"}
              for i in range(3)]
    head = "".join(f'<link rel="stylesheet" href="css/c{i}.css">' for i in range(3))
    body = "".join(f'<script src="js/s{i}.js"></script>' for i in range(4))
    html = f"<!doctype html><html><head>{head}</head><body>{body}</body></html>"
    return [{"path": "index.html", "content": html, "format": "text"}] + files


def measure(files: list[dict], runs: int) -> tuple[float, int, int]:
    size = sum(len(base64.b64decode(f["content"])) if f["format"] == "base64" else len(f["content"].encode()) for f in files)
    times, out = [], 0
    for _ in range(runs):
        t = time.perf_counter()
        _, result = compile_app({"type": "window", "entry_point": "index.html", "name": "bench"}, files)
        times.append(time.perf_counter() - t)
        out = len(next(f["content"] for f in result if f["path"] == "index.html").encode())
    return statistics.median(times), size, out


def main(runs: int) -> int:
    print(f"{'app':<34}{'files':>6}{'input KB':>10}{'bundle KB':>11}{'median ms':>11}")
    for name, files in (("mixed assets (~1 MB)", mixed_app(scale=1)), ("10-file app", ten_files())):
        median, size, out = measure(files, runs)
        print(f"{name:<34}{len(files):>6}{size / 1024:>10.0f}{out / 1024:>11.0f}{median * 1000:>11.1f}")
    print(f"runs: {runs}; cores: {os.cpu_count()}; {time.strftime('%Y-%m-%d')}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    sys.exit(main(parser.parse_args().runs))
