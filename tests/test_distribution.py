"""The distribution as a user installs it: built, installed from the wheel into a new virtualenv, run.

The new virtualenv gets the wheel itself (not this editable checkout) and borrows the already
installed dependencies through a path entry, so the test needs no package index and stays fast.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import tarfile
import venv
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*argv: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed arguments
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_wheel_installs_into_a_new_virtualenv_and_runs(tmp_path: Path) -> None:
    built = run(sys.executable, "-m", "build", "--no-isolation", "--wheel", "--sdist", "--outdir", tmp_path / "dist")
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("messagehandler_azure-*.whl")
    (sdist,) = (tmp_path / "dist").glob("messagehandler_azure-*.tar.gz")

    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        entry_points = archive.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "Name: messagehandler-azure" in metadata
    assert "messagehandler/py.typed" in names
    assert "messagehandler/testing/plugin.py" in names
    assert not [n for n in names if n.startswith(("tests/", "samples/", "bench/"))]
    assert "messagehandler = messagehandler.cli.main:main" in entry_points
    assert "messagehandler = messagehandler.testing.plugin" in entry_points
    with tarfile.open(sdist) as archive:
        assert any(name.endswith("/pyproject.toml") for name in archive.getnames())

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").stdout.strip())
    (site / "borrowed-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    installed = run(
        sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--target", site, "--no-compile", wheel
    )
    assert installed.returncode == 0, installed.stderr[-3000:]
    (site / "bin").rename(env_dir / "wheel-scripts")

    imported = run(python, "-c", "import messagehandler, sys; print(messagehandler.__file__)", cwd=tmp_path)
    version = run(python, env_dir / "wheel-scripts" / "messagehandler", "--version", cwd=tmp_path)

    assert imported.returncode == 0, imported.stderr
    assert Path(imported.stdout.strip()).is_relative_to(site), "the wheel's copy, not the checkout"
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("messagehandler 0.")
