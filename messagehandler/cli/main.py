"""The `messagehandler` console script: argument parsing, dispatch, exit codes and redacted errors.

Exit codes: 0 success, 1 the work failed (damaged cache, storage error), 2 bad input (unknown
option or stream type, missing or malformed settings, credentials the store refused), 130 interrupted.
Storage failures arrive as messagehandler errors already mapped by the event source.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import traceback
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TextIO

from messagehandler import __version__
from messagehandler.cli.bad_rows import add_option as add_bad_rows_option
from messagehandler.cli.bad_rows import hint as bad_rows_hint
from messagehandler.cli.errors import CommandError
from messagehandler.cli.keys import add_key_options
from messagehandler.cli.rebuild_command import add_parser as add_rebuild_parser
from messagehandler.cli.run_command import add_parser as add_run_parser
from messagehandler.cli.settings import Redactor, add_store_options
from messagehandler.errors import ConfigurationError, MessageHandlerError, ResourceNotFoundError
from messagehandler.extras import requires_extra

Command = Callable[[argparse.Namespace, Redactor, TextIO, TextIO], Awaitable[int]]


class _Parser(argparse.ArgumentParser):
    """Usage errors go through the same redacting stream as everything else."""

    redact: Callable[[str], str] = str

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, self.redact(f"{self.prog}: error: {message}\n"))


class _Redacting:
    """A text stream that masks secrets in everything written through it."""

    def __init__(self, stream: TextIO, redact: Redactor) -> None:
        self._stream = stream
        self._redact = redact

    def write(self, text: str) -> int:
        return self._stream.write(self._redact(text))

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _replicate(sub: argparse._SubParsersAction[_Parser]) -> None:
    parser = sub.add_parser("replicate", help="copy stream types from the store into a cache directory")
    parser.add_argument("stream_types", nargs="+", metavar="STREAM_TYPE")
    parser.add_argument("--cache", type=Path, required=True, help="cache directory (created when missing)")
    parser.add_argument(
        "--margin-minutes", type=float, default=5.0,
        help="re-read window before the last commit time seen, for transactions in flight and clock skew (default 5)",
    )  # fmt: skip
    parser.add_argument("--repair", action="store_true", help="first re-fetch damaged cache pages from the store")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (also off when stderr is no TTY)")
    add_bad_rows_option(parser)
    add_store_options(parser)


def _events(sub: argparse._SubParsersAction[_Parser]) -> None:
    parser = sub.add_parser("events", help="print one stream, or the latest events of a type, as JSON lines")
    parser.add_argument("stream_type", metavar="STREAM_TYPE")
    parser.add_argument("stream_id", nargs="?", metavar="STREAM_ID", help="print this stream (default: the tail)")
    parser.add_argument(
        "--tail", type=_positive, default=20, help="how many of the latest events of the type (default 20)"
    )
    parser.add_argument("--from-version", type=_positive, default=1, help="with STREAM_ID: first version to print")
    parser.add_argument("--cache", type=Path, help="read this cache directory instead of the store")
    parser.add_argument("--after", type=int, default=0, help="with --cache: only events after this sequence number")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (also off when stderr is no TTY)")
    add_bad_rows_option(parser)
    add_store_options(parser)
    add_key_options(parser)


def _stats(sub: argparse._SubParsersAction[_Parser]) -> None:
    parser = sub.add_parser("stats", help="events and bytes per type, the biggest event, the growth estimate")
    parser.add_argument("stream_types", nargs="+", metavar="STREAM_TYPE")
    parser.add_argument("--cache", type=Path, help="measure this cache directory instead of the store")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (also off when stderr is no TTY)")
    add_bad_rows_option(parser)
    add_store_options(parser)


def _restore(sub: argparse._SubParsersAction[_Parser]) -> None:
    parser = sub.add_parser("restore", help="run a projection over a stream type into the SQLite search index")
    parser.add_argument("stream_type", metavar="STREAM_TYPE")
    parser.add_argument(
        "--projection", required=True, metavar="MODULE:CLASS", help="import path of a Projection subclass"
    )
    parser.add_argument("--index", required=True, help="SQLite search index file (created or updated)")
    parser.add_argument("--cache", help="restore from this cache directory instead of the store")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (also off when stderr is no TTY)")
    add_bad_rows_option(parser)
    add_store_options(parser)
    add_key_options(parser)


def build_parser(redact: Redactor) -> _Parser:
    """The whole command line; builds without importing any optional extra, so `--help` always works."""
    parser = _Parser(prog="messagehandler", description="Operate a messagehandler event store.")
    parser.add_argument("--version", action="version", version=f"messagehandler {__version__}")
    parser.redact = redact
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    _replicate(sub)
    _events(sub)
    _stats(sub)
    _restore(sub)
    add_run_parser(sub)
    add_rebuild_parser(sub)
    for child in sub.choices.values():
        child.redact = redact
    return parser


def _command(name: str) -> Command:
    """The command's implementation, imported only when it runs.

    Raises:
        MissingExtraError: the `cli` extra (its cache and progress-bar libraries) is not installed.
    """
    if name == "run":
        from messagehandler.cli.run_command import run as run_worker

        return run_worker
    if name == "rebuild":
        from messagehandler.cli.rebuild_command import run as run_rebuild

        return run_rebuild
    with requires_extra("cli", f"messagehandler {name}", ("msgpack", "lz4", "tqdm")):
        if name == "replicate":
            from messagehandler.cli.replicate import run
        elif name == "events":
            from messagehandler.cli.events import run
        elif name == "stats":
            from messagehandler.cli.stats_command import run
        else:
            from messagehandler.cli.restore import run
    return run


def main(argv: Sequence[str] | None = None) -> int:
    redact = Redactor()
    out = _Redacting(sys.stdout, redact)
    err = _Redacting(sys.stderr, redact)
    for value in argv or sys.argv[1:]:
        if "AccountKey=" in value or "SharedAccessSignature=" in value:
            redact.add(value)
    try:
        args = build_parser(redact).parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 2
    try:
        return asyncio.run(_command(args.command)(args, redact, out, err))  # type: ignore[arg-type]
    except ResourceNotFoundError as error:
        if error.code != "TableNotFound":
            print(f"messagehandler {args.command}: error: {error}", file=err)
            return 2
        print(
            f"messagehandler {args.command}: error: table {getattr(error, 'table_name', '?')!r} does not exist in this storage "
            "account: check --table (or $MESSAGEHANDLER_TABLE) and the account in the connection string",
            file=err,
        )
        return 2
    except (ConfigurationError, CommandError) as error:
        print(f"messagehandler {args.command}: error: {error}", file=err)
        return 2
    except MessageHandlerError as error:
        print(f"messagehandler {args.command}: error: {error}{bad_rows_hint(error)}", file=err)
        return 1
    except KeyboardInterrupt:
        print(f"messagehandler {args.command}: interrupted", file=err)
        return 130
    except Exception as error:
        err.write("".join(traceback.format_exception(error)))
        print(
            f"messagehandler {args.command}: error: unexpected {type(error).__name__} (traceback above): {error}",
            file=err,
        )
        return 1
