"""Compiling an app at install: its source and files into one self-contained ``index.html``
bundle with its assets inlined, within a budget. Browser-free."""

from browser_worker._compile.budget import CompileBudget
from browser_worker._compile.compiler import compile_app, ENTRY
from browser_worker._compile.imjoy import source_kind

__all__ = [
    "compile_app",
    "CompileBudget",
    "ENTRY",
    "source_kind",
]
