"""`messagehandler stats`: events and bytes per type, the biggest event and the growth estimate."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from messagehandler.cli.bad_rows import policy, report
from messagehandler.cli.inputs import cached_type, check_cached_type, stored_type
from messagehandler.cli.progress import bar, count_streams, counting
from messagehandler.cli.settings import Redactor, open_store, store_settings
from messagehandler.cli.stats import TypeStats, combined, render
from messagehandler.eventsource.bad_rows import SkipBadRows


async def _from_store(
    args: argparse.Namespace, redact: Redactor, err: TextIO, bad_rows: SkipBadRows | None
) -> list[TypeStats]:
    settings = store_settings(args, redact)
    store = open_store(settings)
    results = []
    try:
        total = await count_streams(store, args.stream_types)
        with bar(err, total=total, unit="streams", desc="measuring", enabled=not args.no_progress) as shown:
            source = counting(store, shown)
            for stream_type in args.stream_types:
                item = TypeStats(stream_type)
                async for raw in stored_type(source, stream_type, bad_rows):
                    item.add(raw, sharded=settings.shards > 1)
                results.append(item)
    finally:
        await store.close()
    return results


def _from_cache(args: argparse.Namespace, err: TextIO) -> list[TypeStats]:
    reader = cached_type(args.cache, args.stream_types[0])
    for stream_type in args.stream_types:
        check_cached_type(reader, stream_type)
    results = {t: TypeStats(t) for t in args.stream_types}
    with bar(err, total=reader.last_seq, unit="events", desc="measuring", enabled=not args.no_progress) as shown:
        for raw in reader.events():
            item = results.get(raw.stream_type)
            if item is not None:
                item.add(raw, sharded=args.shards is not None and args.shards > 1)
            shown.update(1)
    return list(results.values())


async def run(args: argparse.Namespace, redact: Redactor, out: TextIO, err: TextIO) -> int:
    bad_rows = policy(args)
    results = _from_cache(args, err) if args.cache is not None else await _from_store(args, redact, err, bad_rows)
    report(bad_rows, err)
    total = combined(results)
    if args.json:
        print(json.dumps({"types": [r.to_json() for r in results], "total": total.to_json()}), file=out)
        return 0
    for item in results:
        print("\n".join(render(item)), file=out)
    if len(results) > 1:
        print("\n".join(render(total)).replace("*:", "all types:", 1), file=out)
    return 0
