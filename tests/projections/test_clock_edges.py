"""Catch-up with commit times that a test controls: aged history, skewed partition clocks, late commits."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.projections.conftest import ClockedSource, CountingSource
from tests.projections.support import checkpointed, model, register, rename


async def test_with_the_default_margin_only_the_recent_window_is_read_again(
    clocked: ClockedSource, tmp_path: Path
) -> None:
    counting = CountingSource(clocked)
    for i in range(200):
        await register(counting, f"org{i:03d}", renames=9)
    clocked.clock += timedelta(hours=1)
    await rename(counting, "org198", 10, "recent")
    await rename(counting, "org199", 10, "recent")
    await checkpointed(counting, tmp_path)
    clocked.clock += timedelta(hours=1)
    for i in range(20):
        await rename(counting, f"org{i:03d}", 10, f"renamed {i}")
    counting.events_read = 0

    await model(counting, tmp_path).open()

    assert counting.events_read == 22  # the two events within the margin, and the new ones


async def test_a_commit_time_behind_the_high_water_mark_within_the_margin_is_not_missed(
    clocked: ClockedSource, tmp_path: Path
) -> None:
    """Another partition server's clock runs two minutes behind: its commits look older than ones already read."""
    await register(clocked, "acme")
    await checkpointed(clocked, tmp_path)
    clocked.clock -= timedelta(minutes=2)
    await register(clocked, "skewed")

    second = model(clocked, tmp_path)
    await second.open()

    assert "skewed" in second.records


async def test_an_event_older_than_the_margin_is_filled_in_when_its_stream_moves_on(
    clocked: ClockedSource, tmp_path: Path
) -> None:
    await register(clocked, "acme")
    await checkpointed(clocked, tmp_path, margin=timedelta(seconds=1))
    clocked.clock -= timedelta(minutes=10)
    await rename(clocked, "acme", 1, "late")
    clocked.clock += timedelta(minutes=20)
    await rename(clocked, "acme", 2, "later")

    second = model(clocked, tmp_path, margin=timedelta(seconds=1))
    await second.open()

    assert second.records["acme"].former_names == ["acme", "late"]
    assert second.position.versions["acme"] == 3
