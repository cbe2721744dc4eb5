"""The test runner the contract suites need, or an error that names the extra to install."""

from __future__ import annotations

from messagehandler.errors import MissingExtraError

try:
    import pytest
    import pytest_asyncio
except ImportError as error:  # pragma: no cover - the dev install always has the testing extra
    raise MissingExtraError("the contract suites of messagehandler.testing", "testing", error.name) from error

__all__ = ["pytest", "pytest_asyncio"]
