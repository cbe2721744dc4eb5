"""`messagehandler restore`: run a projection over a stream type, from the store or a cache, into SQLite.

The projection is named by import path (`package.module:ClassName`), as in ASGI servers: the CLI
cannot know an application's classes otherwise. Its handlers' event classes form the registry; other
event types pass through undeserialised, and the projection simply has no handler for them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from typing import Any, TextIO

from messagehandler.cache.passthrough import PassThroughSerializer
from messagehandler.cache.source import CacheEventSource
from messagehandler.cli.bad_rows import policy, report
from messagehandler.cli.errors import CommandError
from messagehandler.cli.inputs import check_cached_type, check_stored_type
from messagehandler.cli.keys import KEYS_TABLE_ENV, open_keyring, opening
from messagehandler.cli.progress import bar, count_streams, counting
from messagehandler.cli.settings import Redactor, open_store, store_settings
from messagehandler.events.registry import EventTypeRegistry
from messagehandler.eventsource.bad_rows import SkipBadRows
from messagehandler.eventsource.protocol import EventSource
from messagehandler.projections import Projection, Projector
from messagehandler.search import SqliteSearchIndex


def load_projection(path: str) -> type[Projection[Any]]:
    module_name, _, class_name = path.partition(":")
    if not module_name or not class_name:
        raise CommandError(f"--projection must look like 'package.module:ClassName', got {path!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise CommandError(f"cannot import module {module_name!r} of --projection: {error}") from None
    found = getattr(module, class_name, None)
    if not (isinstance(found, type) and issubclass(found, Projection)):
        raise CommandError(f"{path!r} is not a Projection subclass")
    return found


async def _restore(
    source: EventSource,
    projection: type[Projection[Any]],
    args: argparse.Namespace,
    err: TextIO,
    bad_rows: SkipBadRows | None,
) -> int:
    record_type = projection.builds()
    total = await count_streams(source, [args.stream_type])
    index: SqliteSearchIndex[Any] = SqliteSearchIndex(record_type, args.index)
    try:
        with bar(
            err, total=total, unit="streams", desc=f"restoring {args.stream_type}", enabled=not args.no_progress
        ) as shown:
            return await Projector(counting(source, shown), projection).restore_into(
                index, record_type, args.stream_type, bad_rows=bad_rows
            )
    finally:
        await index.close()


async def run(args: argparse.Namespace, redact: Redactor, out: TextIO, err: TextIO) -> int:
    projection = load_projection(args.projection)
    registry = EventTypeRegistry(projection.handler_table().event_types)
    started = time.perf_counter()
    bad_rows = policy(args)
    keyring = None
    if getattr(args, "keys_table", None) or os.environ.get(KEYS_TABLE_ENV):
        keyring = open_keyring(args, store_settings(args, redact), redact)
    try:
        if args.cache is not None:
            cache = CacheEventSource(args.cache, serializer=opening(PassThroughSerializer(registry), keyring))
            check_cached_type(cache.reader, args.stream_type)
            count = await _restore(cache, projection, args, err, bad_rows)
            where = f"cache {args.cache}"
        else:
            source = open_store(store_settings(args, redact), registry, keyring=keyring)
            try:
                await check_stored_type(source, args.stream_type)
                count = await _restore(source, projection, args, err, bad_rows)
            finally:
                await source.close()
            where = "the store"
    finally:
        if keyring is not None:
            await keyring.close()
    seconds = time.perf_counter() - started
    report(bad_rows, err)
    print(
        f"restored {count:,} {projection.builds().__name__} records of {args.stream_type} from {where} "
        f"into {args.index} in {seconds:.1f} s",
        file=out,
    )
    return 0
