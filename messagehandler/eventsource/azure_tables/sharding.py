"""Which partition holds a stream.

One partition serves about 2,000 entities/s; sharding spreads the streams of a busy type over
several partitions. The hash must be stable across processes and Python versions (unlike `hash`),
because it decides where existing rows are found.
"""

from __future__ import annotations

import hashlib

from messagehandler.errors import ConfigurationError

MAX_SHARDS = 99
"""Two digits in the partition suffix."""


def check_shards(shards: object) -> int:
    if isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= MAX_SHARDS:
        raise ConfigurationError(f"shards must be an int from 1 to {MAX_SHARDS}, got {shards!r}")
    return shards


def shard_of(stream_id: str, shards: int) -> int:
    digest = hashlib.blake2b(stream_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def partition_key(stream_type: str, stream_id: str, shards: int) -> str:
    """`{type}` without sharding (the seed's layout), else `{type}-{shard:02d}`."""
    if shards == 1:
        return stream_type
    return f"{stream_type}-{shard_of(stream_id, shards):02d}"


def partition_keys(stream_type: str, shards: int) -> list[str]:
    if shards == 1:
        return [stream_type]
    return [f"{stream_type}-{shard:02d}" for shard in range(shards)]
