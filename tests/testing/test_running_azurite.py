"""running_azurite stops Azurite however the block ends, and keeps the log when it ended in an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from messagehandler.testing.azurite import AzuriteProcess, running_azurite

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.azurite
def test_an_error_inside_the_block_keeps_the_log_and_stops_azurite(capsys: pytest.CaptureFixture[str]) -> None:
    started: list[AzuriteProcess] = []

    def fail_while_running() -> None:
        with running_azurite(search=[ROOT]) as azurite:
            started.append(azurite)
            raise RuntimeError("inside")

    with pytest.raises(RuntimeError, match="inside"):
        fail_while_running()

    (azurite,) = started
    assert azurite.log_path.exists()
    assert str(azurite.log_path) in capsys.readouterr().err
    assert azurite._processes == [], "every service was stopped"
