"""Shared helpers of the adapters: batching by size and keeping credentials out of text."""

from __future__ import annotations

import pytest

from messagehandler.channels.limits import join_json_array, json_array_batches
from messagehandler.redaction import REDACTED, describe_error, redact


@pytest.mark.parametrize(
    ("sizes", "limit", "expected"),
    [
        ([], 10, []),
        ([3], 5, [[0]]),
        ([3, 3], 9, [[0, 1]]),  # [aaa,bbb] = 9 bytes
        ([3, 3], 8, [[0], [1]]),
        ([3, 3, 3, 1], 9, [[0, 1], [2, 3]]),
    ],
)
def test_json_array_batches_fill_up_to_the_limit_in_order(
    sizes: list[int], limit: int, expected: list[list[int]]
) -> None:
    bodies = [b"x" * size for size in sizes]
    batches = json_array_batches(bodies, limit)
    assert batches == expected
    assert all(len(join_json_array([bodies[i] for i in batch])) <= limit for batch in batches)


def test_a_wider_separator_is_counted() -> None:
    bodies = [b"aa", b"bb"]
    assert json_array_batches(bodies, 7, separator=b", ") == [[0], [1]]
    assert json_array_batches(bodies, 7) == [[0, 1]]


@pytest.mark.parametrize(
    "text",
    [
        "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=c2VjcmV0a2V5PT0=;EndpointSuffix=x",
        "Endpoint=sb://ns/;SharedAccessKeyName=root;SharedAccessKey=c2VjcmV0a2V5PT0=",
        "https://a.queue.core.windows.net/q?sv=2021&sig=c2VjcmV0a2V5PT0%3D&se=2030",
        "https://func.azurewebsites.net/api/hook?code=c2VjcmV0a2V5PT0=",
    ],
)
def test_key_shaped_values_are_masked(text: str) -> None:
    assert "c2VjcmV0a2V5PT0" not in redact(text)
    assert REDACTED in redact(text)


def test_known_secrets_are_masked_wherever_they_appear() -> None:
    error = ValueError("failed while signing with hunter2 for account a")
    assert describe_error(error, ["hunter2"]) == f"ValueError: failed while signing with {REDACTED} for account a"
