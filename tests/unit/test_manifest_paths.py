"""Paths inside an app's files given in a manifest (``startup_script``) are checked at the door."""

from __future__ import annotations

import pytest

from browser_worker import WorkerError
from browser_worker._door.manifest import app_file_path


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


def test_required_artifact_files_stay_inside_the_apps_own_files() -> None:
    from browser_worker._door.manifest import required_artifact_files

    assert required_artifact_files(["utils.py", "lib/", "lib/", "a/b.py"], "web-python") == ("utils.py", "lib/", "a/b.py")
    assert required_artifact_files(None, "window") == ()
    for hostile in ("../other-app/files/x.py", "/etc/passwd", "http://evil.example/x.py", "lib/../../x",
                    "ws-other/artifacts/app/files/../../x", "a\\b", "line\nbreak", "//", "", 7):
        with pytest.raises(WorkerError, match="required_artifact_files"):
            required_artifact_files([hostile], "web-python")
    with pytest.raises(WorkerError, match="only read for web-python apps, not window"):
        required_artifact_files(["utils.py"], "window")
    with pytest.raises(WorkerError, match="at most 64 paths"):
        required_artifact_files([f"f{i}.py" for i in range(65)], "web-python")
