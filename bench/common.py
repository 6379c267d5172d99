"""What the benchmark scripts share: the machine and client they ran on, where the real
`temporal` CLI is, percentiles, and readable errors and logs."""
from __future__ import annotations

import math
import os
import platform
import shutil
import sys
from importlib.metadata import version as pkg_version
from pathlib import Path


def machine_header() -> str:
    """Two lines: the machine (cores, CPU, RAM, OS) and the Python client."""
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = next((l.split()[1] for l in Path("/proc/meminfo").read_text().splitlines()
                if l.startswith("MemTotal:")), "0")
    return (
        f"machine: {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable), {model}, "
        f"{int(mem) / 2**20:.1f} GiB RAM, {platform.system()} {platform.release()}\n"
        f"client: Python {platform.python_version()}, temporalio {pkg_version('temporalio')}"
    )


def find_temporal_cli(arg: str | None) -> str | None:
    """The `temporal` CLI: `arg` if given ('' means none), else beside this Python, else
    on PATH."""
    if arg is not None:
        return arg or None
    # A venv's bin is not on PATH unless activated; look beside our interpreter first.
    beside = Path(sys.executable).parent / "temporal"
    return str(beside) if beside.exists() else shutil.which("temporal")


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, math.ceil(len(s) * p / 100) - 1)] if s else float("nan")


def describe(e: BaseException) -> str:
    """Exception with its cause chain; SDK errors keep the server's message in causes."""
    parts = []
    while e is not None and len(parts) < 5:
        parts.append(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)
        e = e.__cause__ or getattr(e, "cause", None)
    return " <- ".join(parts)


def log_tail(path: Path | None, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path else ""
    except OSError:
        return ""
