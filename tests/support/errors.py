"""Assertions on what a failure hands the caller: errors of the one model, with no secret anywhere."""

from __future__ import annotations

import re
import traceback

from messagehandler.azure_errors import RedactedCauseError
from messagehandler.errors import MessageHandlerError


def account_key(connection_string: str) -> str:
    found = re.search(r"AccountKey=([^;]+)", connection_string)
    assert found is not None
    return found.group(1)


def assert_model_chain_without(error: BaseException, secret: str) -> None:
    """The error's whole cause chain is of the one model (or redacted causes), and `secret` is in no text of it."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None:
        chain.append(current)
        current = current.__cause__
    assert all(isinstance(link, MessageHandlerError | RedactedCauseError) for link in chain), chain
    printed = "".join(traceback.format_exception(error))
    for text in (str(error), repr(error), printed):
        assert secret not in text
