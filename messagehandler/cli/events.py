"""`messagehandler events`: one stream, or the latest events of a type, as JSON lines."""

from __future__ import annotations

import argparse
import heapq
import os
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from typing import TextIO

from messagehandler.cache.passthrough import PassThroughSerializer, body_of
from messagehandler.cache.raw import RawEvent
from messagehandler.cli.bad_rows import policy, report
from messagehandler.cli.inputs import cached_type, check_stored_type, to_raw
from messagehandler.cli.keys import KEYS_TABLE_ENV, open_keyring, opening
from messagehandler.cli.progress import bar, count_streams, counting
from messagehandler.cli.settings import Redactor, open_store, store_settings
from messagehandler.events.preparing import read_preparer
from messagehandler.events.registry import EventTypeRegistry
from messagehandler.eventsource.bad_rows import SkipBadRows
from messagehandler.eventsource.protocol import EventSource

_TAIL_WINDOWS = (timedelta(hours=1), timedelta(days=1), timedelta(days=30), None)
"""The store has no order across streams: look back ever further until the tail is full."""


def _window_name(window: timedelta | None) -> str:
    if window is None:
        return "all"
    return f"last {window.days} days" if window.days > 1 else "last day" if window.days == 1 else "last hour"


def _latest(events: Iterable[RawEvent], count: int) -> list[RawEvent]:
    def order(raw: RawEvent) -> tuple[int, int, str, int]:
        """Events of one transaction share a commit time: their stream and version order them."""
        return (raw.stored_at_us if raw.stored_at_us is not None else raw.when_us, raw.seq, raw.stream_id, raw.version)

    return sorted(heapq.nlargest(count, events, key=order), key=order)


async def _changes(
    source: EventSource, stream_type: str, since: datetime | None, bad_rows: SkipBadRows | None
) -> AsyncIterator[RawEvent]:
    async for stream in source.read_changes(stream_type, since, bad_rows=bad_rows):
        for raw in to_raw(source, stream.events):
            yield raw


async def _stored_tail(
    source: EventSource, stream_type: str, count: int, err: TextIO, enabled: bool, bad_rows: SkipBadRows | None
) -> list[RawEvent]:
    now = datetime.now(UTC)
    total = await count_streams(source, [stream_type])
    with bar(err, total=total, unit="streams", desc=f"reading {stream_type}", enabled=enabled) as shown:
        counted = counting(source, shown)
        for window in _TAIL_WINDOWS:
            shown.reset(total=total)
            shown.set_description_str(f"reading {stream_type} ({_window_name(window)})", refresh=False)
            since = None if window is None else now - window
            events = [raw async for raw in _changes(counted, stream_type, since, bad_rows)]
            if len(events) >= count or window is None:
                shown.update(total - shown.n)
                return _latest(events, count)
    raise AssertionError("the last window is unbounded")


async def _from_store(
    args: argparse.Namespace, redact: Redactor, err: TextIO, bad_rows: SkipBadRows | None
) -> list[RawEvent]:
    settings = store_settings(args, redact)
    keyring = open_keyring(args, settings, redact)
    source = open_store(settings, keyring=keyring)
    try:
        await check_stored_type(source, args.stream_type)
        if args.stream_id is not None:
            return to_raw(source, await source.load(args.stream_type, args.stream_id, from_version=args.from_version))
        return await _stored_tail(source, args.stream_type, args.tail, err, not args.no_progress, bad_rows)
    finally:
        await source.close()
        if keyring is not None:
            await keyring.close()


def _from_cache(args: argparse.Namespace) -> list[RawEvent]:
    reader = cached_type(args.cache, args.stream_type)
    events = (e for e in reader.events(args.after) if e.stream_type == args.stream_type)
    if args.stream_id is not None:
        return [e for e in events if e.stream_id == args.stream_id and e.version >= args.from_version]
    return _latest(events, args.tail)


async def _opened(args: argparse.Namespace, redact: Redactor, events: list[RawEvent]) -> list[RawEvent]:
    """Cached events with their sealed values opened, when the options name the keys."""
    if not (getattr(args, "keys_table", None) or os.environ.get(KEYS_TABLE_ENV)):
        return events
    keyring = open_keyring(args, store_settings(args, redact), redact)
    assert keyring is not None
    serializer = opening(PassThroughSerializer(EventTypeRegistry(closed=True)), keyring)
    try:
        prepare = read_preparer(serializer)
        assert prepare is not None
        await prepare([(raw.metadata, raw.body) for raw in events if raw.encryption_key_id is not None])
        return [
            raw._replace(body=body_of(serializer.deserialize(raw.body, raw.metadata), serializer)) for raw in events
        ]
    finally:
        await keyring.close()


async def run(args: argparse.Namespace, redact: Redactor, out: TextIO, err: TextIO) -> int:
    bad_rows = policy(args)
    if args.cache is not None:
        events = await _opened(args, redact, _from_cache(args))
    else:
        events = await _from_store(args, redact, err, bad_rows)
    report(bad_rows, err)
    if args.stream_id is not None and not events:
        print(f"stream {args.stream_type}/{args.stream_id} has no events", file=err)
        return 1
    for raw in events:
        out.write(raw.to_json_line() + "\n")
    return 0
