"""pytest fixtures of a per-test broker; import them into a conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.amqp_broker.broker import AmqpTestBroker, running_broker


@pytest.fixture
def broker_options() -> dict[str, Any]:
    """Parametrize indirectly (`@pytest.mark.parametrize("broker_options", [{...}])`) for other limits."""
    return {}


@pytest.fixture
def broker(broker_options: dict[str, Any]) -> Iterator[AmqpTestBroker]:
    with running_broker(**broker_options) as running:
        yield running
