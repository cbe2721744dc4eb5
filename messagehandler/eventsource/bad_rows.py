"""What a bulk reader does with a row it cannot read: stop (the default), or skip its stream and report it.

A restore, a replication or a catch-up reads whole stream types; one row another tool wrote, or one
event whose class changed incompatibly, must not stop all of them. Skipping is never silent and never
the default: a reader is given a `SkipBadRows` policy explicitly, and each row it skips is reported to
it (kept in `skipped`, passed to `on_skip`, logged). The policy is per call, like freshness in
Equinox: the same source serves a writer that must never skip and a restore that may.

A stream holding an unreadable row is skipped whole, not yielded without that event: applying the
events around a hole would build a record that looks right and is not. `load` of one stream never
skips; the repository must see every event of an aggregate or none.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from messagehandler.errors import LocalFileError, MessageHandlerError, ServiceError, UnreadableEventError
from messagehandler.eventsource.keys import VERSION_DIGITS

log = logging.getLogger("messagehandler.bad_rows")


def is_unreadable(error: BaseException) -> bool:
    """A failure to decode a stored row, as opposed to a failure to reach the store or its files."""
    return isinstance(error, MessageHandlerError) and not isinstance(error, ServiceError | LocalFileError)


@dataclass
class SkipBadRows:
    """Skip every stream holding a row that cannot be read, and report each such row.

    Pass one to a bulk reader (`read_type`, `read_changes`, `Projector.restore`, `catch_up`,
    `DurableReadModel`, `CacheReplicator.replicate`); after the read, `skipped` lists the rows, each
    an `UnreadableEventError` naming its store, keys, stream, version and reason, each row once however
    often it is met. `on_skip` is called with each as it is first found, for example to send it to an
    operator's log. Keep one policy for a long-lived reader (a durable read model) to hear of each
    bad row once; use a new one per run to hear of them at every run.
    """

    on_skip: Callable[[UnreadableEventError], None] | None = None
    skipped: list[UnreadableEventError] = field(default_factory=list)
    _seen: set[tuple[object, ...]] = field(default_factory=set, repr=False)

    def skip(self, error: UnreadableEventError) -> None:
        """Report a row; a row this policy has reported already (a re-read, a later catch-up) is not repeated."""
        key = (error.source, error.partition_key, error.row_key, error.stream, error.version)
        if key in self._seen:
            return
        self._seen.add(key)
        self.skipped.append(error)
        log.warning("skipping the stream of an unreadable row: %s", error)
        if self.on_skip is not None:
            self.on_skip(error)

    @property
    def streams(self) -> list[str]:
        """The streams skipped, in the order they were found."""
        return list(dict.fromkeys(error.stream for error in self.skipped if error.stream is not None))


def settle(bad_rows: SkipBadRows | None, error: UnreadableEventError) -> None:
    """Raise `error` without a policy; with one, report it and let the reader skip the stream."""
    if bad_rows is None:
        raise error
    bad_rows.skip(error)


def unreadable(
    source: str,
    error: BaseException,
    *,
    stream_type: str,
    stream_id: str | None,
    version: int | None,
    partition_key: str | None = None,
    row_key: str | None = None,
) -> UnreadableEventError:
    """The error naming a row that failed to decode with `error`; keys default to the Table Storage layout's."""
    if row_key is None and stream_id is not None and version is not None:
        row_key = f"{stream_id}_{version:0{VERSION_DIGITS}d}"
    unreadable_error = UnreadableEventError(
        source,
        str(error),
        partition_key=partition_key if partition_key is not None else stream_type,
        row_key=row_key,
        stream=f"{stream_type}/{stream_id}" if stream_id is not None else None,
        version=version,
    )
    unreadable_error.__cause__ = error
    return unreadable_error


def load_failed(
    bad_rows: SkipBadRows | None, source: object, error: Exception, *, stream_type: str, stream_id: str
) -> None:
    """After `load` of one stream failed: report its unreadable row to the policy, or raise `error` again.

    Failures to reach the store, and any failure without a policy, are raised as they are.
    """
    if bad_rows is None or not is_unreadable(error):
        raise error
    version = getattr(error, "version", None)
    bad_rows.skip(
        unreadable(
            repr(source),
            error,
            stream_type=stream_type,
            stream_id=stream_id,
            version=version if isinstance(version, int) else None,
        )
    )
