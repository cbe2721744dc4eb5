"""Every long command shows, on a terminal, a bar with its total, elapsed time and ETA."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import pytest

from messagehandler.cli.main import main
from tests.cache.support import ORG
from tests.cli.test_cli import env, store
from tests.cli.test_restore import PROJECTION

__all__ = ["env", "store"]
pytestmark = pytest.mark.azurite


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def shown(monkeypatch: pytest.MonkeyPatch, *argv: str | Path) -> str:
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert main([str(a) for a in argv]) == 0
    return terminal.getvalue()


def finished(bar: str, desc: str, total: int, unit: str) -> bool:
    """The bar reached its total and showed elapsed<remaining: `desc: 100%|...| 2/2 streams [00:00<00:00, ...]`."""
    pattern = rf"{re.escape(desc)}: 100%\|.*\| {total}/{total} {unit} \[\d\d:\d\d<\d\d:\d\d,"
    return re.search(pattern, bar) is not None


@pytest.mark.usefixtures("env")
@pytest.mark.parametrize(
    ("argv", "desc"),
    [
        (["stats", ORG, "Person"], "measuring"),
        (["events", ORG], f"reading {ORG} (all)"),
        (["replicate", ORG, "Person", "--cache", "{cache}"], "replicating Person"),
        (["restore", ORG, "--projection", PROJECTION, "--index", "{index}"], f"restoring {ORG}"),
    ],
    ids=["stats", "events", "replicate", "restore"],
)
def test_a_long_command_shows_total_and_eta(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, argv: list[str], desc: str
) -> None:
    filled = [a.format(cache=tmp_path / "cache", index=tmp_path / "index.db") for a in argv]
    streams = 3 if "Person" in argv else 2

    bar = shown(monkeypatch, *filled)

    assert finished(bar, desc, streams, "streams"), bar


@pytest.mark.usefixtures("env")
def test_stats_of_a_cache_counts_its_events(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert main(["replicate", ORG, "Person", "--cache", str(tmp_path), "--no-progress"]) == 0

    bar = shown(monkeypatch, "stats", ORG, "--cache", tmp_path)

    assert finished(bar, "measuring", 6, "events"), bar


@pytest.mark.usefixtures("env")
def test_no_progress_turns_the_bar_off(monkeypatch: pytest.MonkeyPatch) -> None:
    assert shown(monkeypatch, "stats", ORG, "--no-progress") == ""
