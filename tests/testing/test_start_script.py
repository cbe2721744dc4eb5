"""`azurite/start.py` (and `python -m messagehandler.testing.azurite`) leave no emulator behind on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def processes_in(folder: Path) -> list[int]:
    """Pids of the processes whose working directory is `folder` (Azurite's run in its workspace)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if Path(os.readlink(entry / "cwd")) == folder:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.azurite
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process working directories from /proc")
def test_sigterm_stops_every_azurite_process() -> None:
    launcher = subprocess.Popen(  # noqa: S603 - fixed arguments
        [sys.executable, str(ROOT / "azurite" / "start.py")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert launcher.stdout is not None
        first = launcher.stdout.readline()
        log_line = launcher.stdout.readline()
        assert first.startswith("MESSAGEHANDLER_CONNECTION_STRING=DefaultEndpointsProtocol=http;")
        workspace = Path(log_line.split()[1]).parent
        assert len(processes_in(workspace)) >= 3, "table, queue and blob services run in the workspace"

        launcher.send_signal(signal.SIGTERM)
        launcher.wait(timeout=30)
    finally:
        if launcher.poll() is None:
            launcher.kill()

    assert processes_in(workspace) == []
