"""`--skip-bad-rows`: what the commands that read a stream type do with a row they cannot read.

Without the option a command stops at the first such row and names it (exit code 1). With it, the
stream holding the row is left out, the command finishes, and every skipped row is listed on stderr.
"""

from __future__ import annotations

import argparse
from typing import TextIO

from messagehandler.cli.keys import LOCAL_KEK_ENV
from messagehandler.errors import UnreadableEventError
from messagehandler.events.personal import EncryptedEventError
from messagehandler.eventsource.bad_rows import SkipBadRows


def add_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--skip-bad-rows",
        action="store_true",
        help="leave out streams holding a row that cannot be read, and list those rows at the end "
        "(default: stop at the first one)",
    )


def policy(args: argparse.Namespace) -> SkipBadRows | None:
    return SkipBadRows() if getattr(args, "skip_bad_rows", False) else None


def report(bad_rows: SkipBadRows | None, err: TextIO) -> None:
    if bad_rows is None or not bad_rows.skipped:
        return
    print(
        f"skipped {len(bad_rows.skipped)} unreadable rows, leaving out {len(bad_rows.streams)} streams:",
        file=err,
    )
    for error in bad_rows.skipped:
        print(f"  {error}", file=err)


def hint(error: BaseException) -> str:
    """Advice to append to the message of an error that stopped a command."""
    if isinstance(error, EncryptedEventError) or isinstance(error.__cause__, EncryptedEventError):
        return (
            f"; to open sealed personal data pass --keys-table with --key-vault-key or ${LOCAL_KEK_ENV}, "
            "or pass --skip-bad-rows to leave such streams out and list them"
        )
    if isinstance(error, UnreadableEventError):
        return "; pass --skip-bad-rows to leave such streams out and list them"
    return ""
