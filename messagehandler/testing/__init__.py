"""The testing kit shipped with messagehandler: stamped events for unit tests, and importable contract suites.

`recorded` needs nothing but the core. The contract suites (`messagehandler.testing.event_source`,
`.outbox`, `.channel`) import pytest and pytest-asyncio: install the `testing` extra for them.
"""

from messagehandler.testing.recording import recorded

__all__ = ["recorded"]
