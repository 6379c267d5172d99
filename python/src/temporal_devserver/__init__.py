"""devserver, a local Temporal-compatible server in one binary, shipped in this wheel.

`binary_path()` is the installed `devserver`, for
`WorkflowEnvironment.start_local(dev_server_existing_path=binary_path())` and
`WorkflowEnvironment.start_time_skipping(test_server_existing_path=binary_path())`.
The pytest plugin (`temporal_devserver.pytest_plugin`, loaded by entry point) gives tests a
server, clients and environments on it."""

from __future__ import annotations

import shutil
import sys
import sysconfig
from pathlib import Path

__all__ = ["binary_path"]

_NAME = "devserver.exe" if sys.platform == "win32" else "devserver"


def binary_path() -> Path:
    """Where the wheel installed the `devserver` binary: the scripts directory of this
    interpreter's install scheme, of the user scheme (`pip install --user`), beside the
    package (`pip install --target`), else the first `devserver` on PATH."""
    candidates = [
        Path(sysconfig.get_path("scripts")) / _NAME,
        Path(sysconfig.get_path("scripts", sysconfig.get_preferred_scheme("user"))) / _NAME,
        Path(__file__).resolve().parent.parent / "bin" / _NAME,
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    on_path = shutil.which(_NAME)
    if on_path:
        return Path(on_path)
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"the devserver binary is not installed (looked in {tried} and PATH)")
