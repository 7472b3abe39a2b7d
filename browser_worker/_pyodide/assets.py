"""Offline assets for web-python: Pyodide core and a wheelhouse, fetched once into ``static/``.

Hypha's own worker loads Pyodide and every wheel from public CDNs at each start; these files
come from the npm registry (package ``pyodide``) and PyPI instead, once, at set-up time.
Pure-Python wheels only: they have to run inside Pyodide's Python 3.13.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from browser_worker.resources import static_dir

PYODIDE_VERSION = "0.28.3"
PYODIDE_PYTHON = "3.13"
PYODIDE_FILES = (
    "pyodide.js", "pyodide.mjs", "pyodide.asm.js", "pyodide.asm.wasm",
    "python_stdlib.zip", "pyodide-lock.json", "package.json",
)
#: What every web-python page installs before any app code runs.
BASE_WHEELS = (
    "micropip==0.10.1", "hypha-rpc==0.21.47", "shortuuid", "munch", "httpx", "anyio",
    "sniffio", "idna", "certifi", "httpcore", "h11", "typing_extensions",
)
MSGPACK = "msgpack==1.1.1"

Say = Callable[[str], None]


def normalize(name: str) -> str:
    """PEP 503 project name normalization."""
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_project(filename: str) -> str:
    return normalize(filename.split("-", 1)[0])


@dataclass(frozen=True)
class AssetPaths:
    root: Path

    @property
    def pyodide(self) -> Path:
        return self.root / "pyodide"

    @property
    def wheels(self) -> Path:
        return self.root / "wheels"

    @property
    def index(self) -> Path:
        return self.wheels / "index.json"

    def pyodide_ready(self) -> bool:
        return all((self.pyodide / f).is_file() for f in PYODIDE_FILES)

    def wheel_index(self) -> dict[str, list[str]]:
        """``{project: [wheel filenames]}`` of the wheelhouse (rebuilt from disk)."""
        found: dict[str, list[str]] = {}
        for wheel in sorted(self.wheels.glob("*.whl")):
            found.setdefault(wheel_project(wheel.name), []).append(wheel.name)
        return found

    def base_wheels(self) -> list[str]:
        """Filenames of the wheels every page installs (micropip first)."""
        index = self.wheel_index()
        names = [normalize(spec.split("==")[0]) for spec in BASE_WHEELS] + ["msgpack"]
        missing = [n for n in names if n not in index]
        if missing:
            raise FileNotFoundError(
                f"wheelhouse {self.wheels} lacks {', '.join(missing)}; run `browser-worker assets fetch`"
            )
        return [index[n][-1] for n in names]

    def ready(self) -> bool:
        try:
            return self.pyodide_ready() and bool(self.base_wheels())
        except FileNotFoundError:
            return False

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())


def default_paths() -> AssetPaths:
    return AssetPaths(Path(os.environ.get("BROWSER_WORKER_STATIC") or static_dir()))


def fetch(paths: AssetPaths | None = None, say: Say = print, force: bool = False) -> AssetPaths:
    """Put Pyodide core and the base wheelhouse under ``static/`` (skips what is present)."""
    paths = paths or default_paths()
    paths.pyodide.mkdir(parents=True, exist_ok=True)
    paths.wheels.mkdir(parents=True, exist_ok=True)
    if force or not paths.pyodide_ready():
        _fetch_pyodide(paths, say)
    else:
        say(f"pyodide {PYODIDE_VERSION}: present in {paths.pyodide}")
    index = paths.wheel_index()
    wanted = [spec for spec in BASE_WHEELS if normalize(spec.split("==")[0]) not in index]
    if force or wanted:
        _pip(["download", "--no-deps", *_pure_flags(), "-d", str(paths.wheels), *(BASE_WHEELS if force else wanted)], say)
    if force or "msgpack" not in index:
        say(f"building a pure-Python {MSGPACK} wheel (MSGPACK_PUREPYTHON=1)")
        _pip(["wheel", "--no-deps", "--no-binary", "msgpack", "-w", str(paths.wheels), MSGPACK], say,
             env={"MSGPACK_PUREPYTHON": "1"})
    write_index(paths)
    say(f"assets ready in {paths.root} ({paths.size_bytes() / 1e6:.1f} MB)")
    return paths


def add(packages: list[str], paths: AssetPaths | None = None, say: Say = print) -> list[str]:
    """Add pure-Python wheels (with their dependencies) to the wheelhouse."""
    paths = paths or default_paths()
    paths.wheels.mkdir(parents=True, exist_ok=True)
    before = set(p.name for p in paths.wheels.glob("*.whl"))
    _pip(["download", *_pure_flags(), "-d", str(paths.wheels), *packages], say)
    write_index(paths)
    added = sorted(set(p.name for p in paths.wheels.glob("*.whl")) - before)
    say(f"added {len(added)} wheel(s): {', '.join(added) or 'none (already present)'}")
    return added


def write_index(paths: AssetPaths) -> None:
    paths.index.write_text(json.dumps(paths.wheel_index(), indent=1, sort_keys=True))


def _pure_flags() -> list[str]:
    return ["--only-binary=:all:", "--platform", "any", "--implementation", "py",
            "--python-version", PYODIDE_PYTHON, "--no-cache-dir"]


def _pip(args: list[str], say: Say, env: dict[str, str] | None = None) -> None:
    cmd = [sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "-q"]
    say("$ pip " + " ".join(args))
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if proc.returncode != 0:
        raise RuntimeError(f"pip {args[0]} failed:\n{proc.stderr.strip()[-2000:]}")


def _fetch_pyodide(paths: AssetPaths, say: Say) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed to fetch Pyodide (package 'pyodide' from the npm registry)")
    say(f"fetching pyodide@{PYODIDE_VERSION} from the npm registry")
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([npm, "pack", f"pyodide@{PYODIDE_VERSION}", "--pack-destination", tmp, "-q"],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"npm pack pyodide@{PYODIDE_VERSION} failed:\n{proc.stderr.strip()[-2000:]}")
        tarball = next(Path(tmp).glob("pyodide-*.tgz"))
        with tarfile.open(tarball) as tar:
            for name in PYODIDE_FILES:
                member = tar.getmember(f"package/{name}")
                source = tar.extractfile(member)
                assert source is not None
                (paths.pyodide / name).write_bytes(source.read())
