"""The package's shape, checked: no import cycle (type-checking imports included), every
subpackage declares its surface, and the import contracts (`lint-imports`) catch a cycle that
hides behind ``TYPE_CHECKING``."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "browser_worker"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def test_no_import_cycle_between_modules() -> None:
    graph = grimp.build_graph("browser_worker", exclude_type_checking_imports=False)
    edges = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for nxt in sorted(edges.get(module, ())):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt] if nxt in path else [module, nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert cycles == []


SUBPACKAGES = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_every_subpackage_declares_its_surface(name: str) -> None:
    """A docstring saying what it offers, and ``__all__`` naming what other packages may use."""
    module = importlib.import_module(f"browser_worker.{name}")
    assert (module.__doc__ or "").strip(), f"browser_worker.{name} has no docstring"
    if name == "cli":
        return  # the command itself: main() and its parser
    surface = getattr(module, "__all__", None)
    assert surface, f"browser_worker.{name} declares no __all__"
    assert all(hasattr(module, n) for n in surface)


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tree, env=env, capture_output=True, text=True,
                          timeout=300)


def test_the_contracts_catch_a_cycle_hidden_behind_type_checking(tmp_path: Path) -> None:
    """A copy of the package passes; the same copy with one ``TYPE_CHECKING`` import from the
    session core up to the facade (a cycle: the facade imports the session core) fails."""
    shutil.copytree(PACKAGE, tmp_path / "browser_worker", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    clean = _lint(tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr

    session = tmp_path / "browser_worker" / "_session" / "session.py"
    text = session.read_text()
    assert "from __future__ import annotations\n" in text
    session.write_text(text.replace(
        "from __future__ import annotations\n",
        "from __future__ import annotations\n\nfrom typing import TYPE_CHECKING\n\n"
        "if TYPE_CHECKING:\n    from browser_worker.worker import BrowserWorker\n", 1))
    broken = _lint(tmp_path)
    assert broken.returncode != 0
    assert "browser_worker._session.session -> browser_worker.worker" in broken.stdout
