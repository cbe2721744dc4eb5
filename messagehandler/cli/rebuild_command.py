"""`messagehandler rebuild MODULE:app READ_MODEL`: build a read model's new version beside the live one and
switch it in (or, with `--watch`, follow a rebuild that workers run)."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from messagehandler.cli.settings import Redactor


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    parser = sub.add_parser(
        "rebuild",
        help="build the declared version of a live read model beside the live one, then switch to it",
        description="Builds under the same lease as the workers: if a worker is building that version already, "
        "this follows its progress instead. Exit 0 once the version is live.",
    )
    parser.add_argument("app", metavar="MODULE:ATTRIBUTE", help="the WorkerApp declaring the read model")
    parser.add_argument("read_model", metavar="READ_MODEL", help="the name of the read model service")
    parser.add_argument("--watch", action="store_true", help="only follow the rebuild the workers run")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between two looks at the progress")


def describe(progress: dict[str, Any]) -> str:
    counts = ", ".join(f"{progress[key]} {key}" for key in ("events", "streams", "records") if key in progress)
    return f"version {progress.get('version', '?')}: {progress.get('state', '?')}" + (f" ({counts})" if counts else "")


async def run(args: argparse.Namespace, redact: Redactor, out: TextIO, err: TextIO) -> int:
    from messagehandler.worker.rebuild import rebuild, watch
    from messagehandler.worker.runner import load_app

    app = load_app(args.app)

    def report(progress: dict[str, Any]) -> None:
        print(f"{args.read_model}: {describe(progress)}", file=err, flush=True)

    if args.watch:
        await watch(app, args.read_model, report, poll=args.poll)
        return 0
    outcome = await rebuild(app, args.read_model, report, poll=args.poll)
    if outcome.built_here:
        replaced = f", replacing {outcome.replaced}" if outcome.replaced else ""
        print(f"{args.read_model}: version {outcome.version} is live{replaced}", file=out)
    return 0
