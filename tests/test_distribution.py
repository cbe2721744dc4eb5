"""The distribution as a user installs it: built, installed from the wheel into a new virtualenv, run.

Two installs. The first gets the wheel itself (not this editable checkout) and borrows the already
installed dependencies through a path entry, so it needs no package index and stays fast. The second
is issue 10's "done when": the wheel with the dependencies its `azure-tables` extra declares, resolved
by pip from the package index (pip's cache makes a repeat quick), and then the getting-started
program, taken from docs/getting-started.md unchanged, run against the suite's Azurite from a folder
outside the repository with no PYTHONPATH. Without the index the second test fails with pip's error:
a missing dependency declaration must never pass unnoticed.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import tarfile
import venv
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.docs.blocks import blocks

if TYPE_CHECKING:
    from messagehandler.testing.azurite import AzuriteProcess

ROOT = Path(__file__).resolve().parent.parent


def run(*argv: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed arguments
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel and sdist, built once for this module's tests."""
    out = tmp_path_factory.mktemp("dist")
    built = run(sys.executable, "-m", "build", "--no-isolation", "--wheel", "--sdist", "--outdir", out)
    assert built.returncode == 0, built.stderr[-3000:]
    return out


def test_the_wheel_installs_into_a_new_virtualenv_and_runs(dist: Path, tmp_path: Path) -> None:
    (wheel,) = dist.glob("messagehandler_azure-*.whl")
    (sdist,) = dist.glob("messagehandler_azure-*.tar.gz")

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


def getting_started_program() -> str:
    """The block the page tells the reader to save as `organizations.py`, as written."""
    page = ROOT / "docs" / "getting-started.md"
    lines = page.read_text().splitlines()
    told = next(n for n, line in enumerate(lines, 1) if "Save this as `organizations.py`" in line)
    return next(block for block in blocks(page) if block.line > told).code


@pytest.mark.azurite
@pytest.mark.network
def test_the_getting_started_program_runs_from_the_wheel_with_its_declared_dependencies(
    dist: Path, tmp_path: Path, azurite: AzuriteProcess
) -> None:
    from azure.data.tables import TableServiceClient

    (wheel,) = dist.glob("messagehandler_azure-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    installed = run(
        sys.executable, "-m", "pip", "--python", python, "install", "--disable-pip-version-check",
        "--only-binary", ":all:", f"{wheel}[azure-tables]",
    )  # fmt: skip
    assert installed.returncode == 0, "pip could not install the wheel from the package index:\n" + (
        installed.stdout[-2000:] + installed.stderr[-3000:]
    )

    elsewhere = tmp_path / "user"
    elsewhere.mkdir()
    (elsewhere / "organizations.py").write_text(getting_started_program())
    env = {
        "PATH": f"{env_dir / 'bin'}:/usr/bin:/bin",
        "HOME": str(elsewhere),
        "MESSAGEHANDLER_CONNECTION_STRING": azurite.connection_string,
    }
    with TableServiceClient.from_connection_string(azurite.connection_string) as service:
        service.delete_table("Events")  # the program's table, fresh as on a new machine
    try:
        ran = subprocess.run(  # noqa: S603 - fixed arguments
            [str(python), "organizations.py"], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120
        )
        where = subprocess.run(  # noqa: S603 - fixed arguments
            [str(python), "-c", "import messagehandler; print(messagehandler.__file__)"],
            cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        with TableServiceClient.from_connection_string(azurite.connection_string) as service:
            service.delete_table("Events")

    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.splitlines() == ["acme: Acme 1 (formerly Acme)"]
    assert Path(where.stdout.strip()).is_relative_to(env_dir), "the wheel's copy, not the checkout"
