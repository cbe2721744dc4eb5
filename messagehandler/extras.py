"""Optional integrations live behind extras; importing one without its extra names the line that installs it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from messagehandler.errors import MissingExtraError


@contextmanager
def requires_extra(extra: str, feature: str, modules: Sequence[str]) -> Iterator[None]:
    """Turn a failed import of one of `modules` (top-level names) into `MissingExtraError` naming `extra`.

    Any other ImportError passes unchanged, so a real bug is not disguised as a missing extra.
    """
    try:
        yield
    except ImportError as error:
        missing = error.name or ""
        if missing.partition(".")[0] not in {module.partition(".")[0] for module in modules}:
            raise
        raise MissingExtraError(feature, extra, missing) from error
