"""What a failed append means, read from its failing operation (as Streamstone's `Handle` does).

An append is one entity group transaction: the event rows, then maybe the stream's outbox row. How it
failed decides what the source does next, and only that: this module looks at the error and answers;
the source acts. It reads the attributes every Azure SDK error carries, so it needs no SDK import
and is tested with plain stand-ins.
"""

from __future__ import annotations

import enum

from messagehandler.azure_errors import error_code, error_status, is_service_failure, reached_service, timed_out

_OUTBOX_RACE_CODES = frozenset({"EntityAlreadyExists", "UpdateConditionNotSatisfied", "ResourceNotFound"})
"""How the outbox row's create or ETag-guarded update fails when a publisher cleared or an append changed it."""

_AMBIGUOUS_STATUSES = frozenset({408, 429})


class Failed(enum.Enum):
    """The kinds of failed append, each with what the source does about it."""

    NOT_A_SERVICE_FAILURE = "a programming error: raise it as it is"
    TABLE_MISSING = "the table does not exist: raise TableNotFoundError"
    OUTBOX_ROW_CHANGED = "the outbox row changed between reading and writing it: read it again and retry"
    VERSION_ROW_EXISTS = "a row of these versions exists: our own earlier attempt (same event ids) or a conflict"
    NOT_SENT = "the request never reached the service, so nothing was stored: raise NotCommittedError"
    AMBIGUOUS = "the service may have committed: read the rows back to settle the outcome"
    TIMED_OUT = "we stopped waiting: read back, and if nothing is there yet the request may still arrive"
    REFUSED = "the service answered with a refusal, so nothing was stored: raise the mapped error"


def classify(error: BaseException, *, event_rows: int, with_outbox: bool) -> Failed:
    """The kind of failure `error` is, for a transaction of `event_rows` event rows (plus the outbox row)."""
    if not is_service_failure(error):
        return Failed.NOT_A_SERVICE_FAILURE
    status, code = error_status(error), error_code(error)
    if code == "TableNotFound":
        return Failed.TABLE_MISSING
    if with_outbox and code in _OUTBOX_RACE_CODES and getattr(error, "index", None) == event_rows:
        return Failed.OUTBOX_ROW_CHANGED
    if code == "EntityAlreadyExists":
        return Failed.VERSION_ROW_EXISTS
    if status is not None:
        return Failed.AMBIGUOUS if status >= 500 or status in _AMBIGUOUS_STATUSES else Failed.REFUSED
    if not reached_service(error):
        return Failed.NOT_SENT
    return Failed.TIMED_OUT if timed_out(error) else Failed.AMBIGUOUS
