"""Paths inside an app's files given in a manifest (``startup_script``) are checked at the door."""

from __future__ import annotations

import pytest

from browser_worker import WorkerError
from browser_worker._api.manifest import app_file_path


@pytest.mark.parametrize("value, message", [
    ("../secret.js", "not a relative path inside the app's files"),
    ("/etc/passwd", "not a relative path inside the app's files"),
    ("a//b.js", "not a relative path"),
    ("http://evil/x.js", "not a relative path"),
    (7, "must be a path inside the app's files"),
    ("a\nb", "must be a path inside the app's files"),
])
def test_bad_startup_script_paths_are_refused(value: object, message: str) -> None:
    with pytest.raises(WorkerError, match=message):
        app_file_path(value, "startup_script")
    assert app_file_path("js/boot.js", "startup_script") == "js/boot.js"
