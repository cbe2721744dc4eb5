"""The processing samples run end to end and give the documented output."""

from __future__ import annotations

import subprocess
import sys

from samples.processing.__main__ import run_demo


async def test_demo_summarises_every_event_and_averages_per_sensor() -> None:
    summaries, windows = await run_demo([("boiler", 70.0), ("chiller", 6.0), ("boiler", 74.0)])
    assert [(s.stream, s.version) for s in summaries] == [
        ("Plant/plant-1", 1),
        ("Plant/plant-1", 2),
        ("Plant/plant-1", 3),
    ]
    assert [(w.sensor, w.count, w.average) for w in windows] == [("boiler", 2, 72.0), ("chiller", 1, 6.0)]


def test_module_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "samples.processing"], capture_output=True, text=True, check=True, timeout=60
    )
    assert "window: boiler count=3 average=73.00" in result.stdout
    assert result.stdout.count("summary: ReadingRecorded") == 5
