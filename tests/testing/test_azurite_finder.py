"""Where the testing kit finds Azurite, and what it says when Azurite is nowhere."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from messagehandler import ConfigurationError
from messagehandler.testing.azurite import AZURITE_VERSION, AzuriteError, find_azurite

SERVICES = ("table", "queue", "blob")


def fake_bin(folder: Path, *names: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        path = folder / name
        path.write_text("#!/bin/sh\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return folder


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("AZURITE_BIN_DIR", raising=False)
    monkeypatch.setenv("PATH", str(fake_bin(tmp_path / "empty-path")))


def test_a_project_install_is_found_under_the_searched_folder(tmp_path: Path) -> None:
    bin_dir = fake_bin(tmp_path / "app" / "node_modules" / ".bin", *(f"azurite-{s}" for s in SERVICES))

    command = find_azurite([tmp_path / "app"])

    assert command.bin_dir == bin_dir
    assert command.argv("queue") == [str(bin_dir / "azurite-queue")]


def test_the_pinned_folder_of_this_repository_layout_is_found(tmp_path: Path) -> None:
    bin_dir = fake_bin(tmp_path / "azurite" / "node_modules" / ".bin", *(f"azurite-{s}" for s in SERVICES))

    assert find_azurite([tmp_path]).bin_dir == bin_dir


def test_an_explicit_folder_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_bin(tmp_path / "node_modules" / ".bin", *(f"azurite-{s}" for s in SERVICES))
    chosen = fake_bin(tmp_path / "chosen", *(f"azurite-{s}" for s in SERVICES))
    monkeypatch.setenv("AZURITE_BIN_DIR", str(chosen))

    assert find_azurite([tmp_path]).bin_dir == chosen


def test_a_global_install_on_path_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    global_bin = fake_bin(tmp_path / "global", *(f"azurite-{s}" for s in SERVICES))
    monkeypatch.setenv("PATH", str(global_bin))

    command = find_azurite([tmp_path / "nothing-here"])

    assert command.bin_dir == global_bin
    assert "global" in command.where


def test_npx_runs_the_pinned_version_when_nothing_is_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(fake_bin(tmp_path / "node", "npx")))

    command = find_azurite([tmp_path])

    assert command.argv("table") == [
        str(tmp_path / "node" / "npx"),
        "--yes",
        "--package",
        f"azurite@{AZURITE_VERSION}",
        "azurite-table",
    ]


def test_a_partial_install_does_not_count(tmp_path: Path) -> None:
    fake_bin(tmp_path / "node_modules" / ".bin", "azurite-table")

    with pytest.raises(AzuriteError):
        find_azurite([tmp_path])


def test_without_azurite_the_error_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(AzuriteError) as raised:
        find_azurite([tmp_path])

    assert isinstance(raised.value, ConfigurationError)
    assert "npm install -g azurite" in str(raised.value)
    assert "AZURITE_BIN_DIR" in str(raised.value)


def failing_bin(folder: Path, output: str) -> Path:
    """Fake Azurite services: the table service prints `output` and exits, as a broken start would; the
    others wait to be stopped."""
    folder.mkdir(parents=True)
    for service in SERVICES:
        path = folder / f"azurite-{service}"
        body = f"echo '{output}'\nexit 1" if service == "table" else "exec sleep 30"
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return folder


def test_a_start_that_fails_names_where_azurite_came_from_and_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from messagehandler.testing.azurite import start_azurite

    monkeypatch.setenv("AZURITE_BIN_DIR", str(failing_bin(tmp_path / "broken", "cannot start: no such option")))

    with pytest.raises(AzuriteError) as raised:
        start_azurite(search=[], timeout=10)

    assert "did not start" in str(raised.value)
    assert "cannot start: no such option" in str(raised.value)
    assert str(tmp_path / "broken") in str(raised.value)


def test_a_port_taken_meanwhile_is_retried_on_new_ports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from messagehandler.testing.azurite import start_azurite

    monkeypatch.setenv("AZURITE_BIN_DIR", str(failing_bin(tmp_path / "busy", "Error: listen EADDRINUSE")))

    with pytest.raises(AzuriteError, match="EADDRINUSE") as raised:
        start_azurite(search=[], timeout=10, attempts=2)

    log = Path(str(raised.value).split("log: ")[1].split("\n")[0]).read_text()
    assert log.count("EADDRINUSE") == 2, "the start was retried once on new ports"
