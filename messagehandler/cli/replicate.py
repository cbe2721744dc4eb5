"""`messagehandler replicate`: copy stream types from the store into a cache directory."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import TextIO

from messagehandler.cache.replicator import CacheReplicator, ReplicationProgress, ReplicationSummary
from messagehandler.cli.bad_rows import policy, report
from messagehandler.cli.inputs import check_stored_type
from messagehandler.cli.progress import bar, count_streams
from messagehandler.cli.settings import Redactor, open_store, store_settings
from messagehandler.cli.stats import human_bytes


def _summary(summary: ReplicationSummary, out: TextIO) -> None:
    for stream_type, events in summary.events.items():
        print(f"{stream_type}: {events:,} new events in {summary.streams[stream_type]:,} streams", file=out)
    rate = summary.total_events / summary.seconds if summary.seconds > 0 else 0.0
    seqs = f"seq {summary.first_seq:,}..{summary.last_seq:,}" if summary.total_events else "nothing new"
    print(
        f"replicated {summary.total_events:,} events ({seqs}) into {summary.segments_written} new segments, "
        f"{human_bytes(summary.bytes_written)}, in {summary.seconds:.1f} s ({rate:,.0f} events/s)",
        file=out,
    )


async def run(args: argparse.Namespace, redact: Redactor, out: TextIO, err: TextIO) -> int:
    source = open_store(store_settings(args, redact))
    try:
        for stream_type in args.stream_types:
            await check_stored_type(source, stream_type)
        replicator = CacheReplicator(source, args.cache, margin=timedelta(minutes=args.margin_minutes))
        if args.repair:
            repaired = await replicator.repair(
                on_page=lambda path, offset: print(f"re-fetching page at offset {offset} of {path}", file=err)
            )
            print(f"repaired {repaired} damaged pages", file=out)
        total = await count_streams(source, args.stream_types)
        with bar(err, total=total, unit="streams", desc="replicating", enabled=not args.no_progress) as shown:

            def progress(state: ReplicationProgress) -> None:
                shown.set_description_str(f"replicating {state.stream_type}", refresh=False)
                shown.update(min(state.streams, total) - shown.n)

            bad_rows = policy(args)
            summary = await replicator.replicate(args.stream_types, on_progress=progress, bad_rows=bad_rows)
            shown.update(total - shown.n)  # streams without new events were checked, not copied
        report(bad_rows, err)
        _summary(summary, out)
    finally:
        await source.close()
    return 0
