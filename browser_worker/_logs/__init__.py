"""Session logs: the bounded log buffer and its vocabulary, the console pump that pulls a
page's console lines, and progress messages to a caller's callback."""

from browser_worker._logs.buffer import CONSOLE_LEVELS, ERROR, LogBuffer, NETWORK
from browser_worker._logs.console import ConsolePump
from browser_worker._logs.progress import Progress

__all__ = [
    "CONSOLE_LEVELS",
    "ConsolePump",
    "ERROR",
    "LogBuffer",
    "NETWORK",
    "Progress",
]
