"""Progress bars with a total and an ETA for the long commands, on stderr and only on a terminal.

The store has no count of its streams, so a command reading it first counts the stream ids of its types
(a key-only query) and then advances one step per stream read; a command reading a cache knows how many
events it holds. `--no-progress` (or stderr that is not a terminal) turns the bar off.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TextIO

from tqdm import tqdm

from messagehandler.eventsource.observed import ObservedSource
from messagehandler.eventsource.protocol import EventSource, EventStream

BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} {unit} [{elapsed}<{remaining}, {rate_fmt}]"


def bar(err: TextIO, *, total: int, unit: str, desc: str, enabled: bool = True) -> tqdm[Any]:
    """A bar of `total` steps showing percent, count, elapsed time, ETA and rate; off unless stderr is a TTY."""
    return tqdm(
        total=total,
        unit=unit,
        desc=desc,
        file=err,
        disable=None if enabled else True,
        dynamic_ncols=True,
        bar_format=BAR_FORMAT,
    )


async def count_streams(source: EventSource, stream_types: Sequence[str]) -> int:
    """How many streams the types hold: the total of a bar that moves one step per stream."""
    total = 0
    for stream_type in stream_types:
        async for _ in source.stream_ids(stream_type):
            total += 1
    return total


def counting(source: EventSource, progress: tqdm[Any]) -> EventSource:
    """`source`, moving the bar one step for every stream read through it."""

    def step(_: EventStream) -> None:
        progress.update(1)

    return ObservedSource(source, on_stream=step)
