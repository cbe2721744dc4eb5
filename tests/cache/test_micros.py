"""Cached times are microseconds since the epoch; they read back as the very moment that was written."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from messagehandler.cache.raw import from_micros, to_micros

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("low", "high"),
    [
        pytest.param(0, 4_000_000_000 * 10**6, id="until-2096"),
        pytest.param(2**33 * 10**6, 2**53, id="2242-to-2255"),
        pytest.param(2**53, 253402300799 * 10**6, id="to-the-year-9999"),
    ],
)
def test_every_microsecond_reads_back_exactly(low: int, high: int) -> None:
    picks = random.Random(low).sample(range(low, high), 20_000)
    wrong = [m for m in picks if from_micros(m) != EPOCH + timedelta(microseconds=m)]
    assert wrong == []
    assert all(to_micros(from_micros(m)) == m for m in picks)
