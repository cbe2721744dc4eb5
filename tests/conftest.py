"""Fixtures shared by the whole suite.

`event_source` is parameterised over every EventSource implementation: a test that takes it is a
contract test and runs against each of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from messagehandler import EventSource, EventTypeRegistry, InMemoryEventSource


@pytest.fixture(params=["memory"])
async def event_source(request: pytest.FixtureRequest) -> AsyncIterator[EventSource]:
    registry = EventTypeRegistry()
    if request.param == "memory":
        source: EventSource = InMemoryEventSource(registry)
    else:  # pragma: no cover - every param is handled above
        raise AssertionError(request.param)
    try:
        yield source
    finally:
        await source.close()
