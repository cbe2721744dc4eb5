"""Event hubs in the test broker: partitioned logs that consumers read from a position, never consume.

What the azure-eventhub consumer needs from a service: a `$management` READ of type
`com.microsoft:eventhub` answering the partition ids; receiver links on
`{hub}/ConsumerGroups/{group}/Partitions/{id}` whose source carries an `apache.org:selector-filter:string`
such as `amqp.annotation.x-opt-offset > '120'` (or `x-opt-sequence-number`, `x-opt-enqueued-time`, with
`>` or `>=`); and events annotated with `x-opt-sequence-number`, `x-opt-offset` (a string),
`x-opt-enqueued-time` and `x-opt-partition-key`. An event's partition is a stable hash of its
partition key (round robin without one), or the partition named in the address it was sent to.
"""

from __future__ import annotations

import itertools
import re
import time
import uuid
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from proton import Link, Message, symbol, timestamp

PARTITION_KEY = symbol("x-opt-partition-key")
SELECTOR_FILTER = symbol("apache.org:selector-filter:string")
EVENTHUB_MANAGEMENT_TYPE = "com.microsoft:eventhub"
_SELECTOR = re.compile(
    r"amqp\.annotation\.(x-opt-offset|x-opt-sequence-number|x-opt-enqueued-time)\s*(>=|>)\s*'(-?\d+)'"
)
_CONSUMER_ADDRESS = re.compile(r"^(?P<hub>[^/]+)/ConsumerGroups/(?P<group>[^/]+)/Partitions/(?P<partition>[^/]+)$")
_PARTITION_ADDRESS = re.compile(r"^(?P<hub>[^/]+)/Partitions/(?P<partition>[^/]+)$")


@dataclass(frozen=True)
class StoredEvent:
    encoded: bytes
    sequence_number: int
    offset: int
    enqueued_ms: int
    partition_key: str | None

    def annotations(self) -> dict[Any, Any]:
        found = {
            symbol("x-opt-sequence-number"): self.sequence_number,
            symbol("x-opt-offset"): str(self.offset),
            symbol("x-opt-enqueued-time"): timestamp(self.enqueued_ms),
        }
        if self.partition_key is not None:
            found[PARTITION_KEY] = self.partition_key
        return found

    def position(self, annotation: str) -> int:
        return {
            "x-opt-offset": self.offset,
            "x-opt-sequence-number": self.sequence_number,
            "x-opt-enqueued-time": self.enqueued_ms,
        }[annotation]


@dataclass(frozen=True)
class ConsumerLink:
    """A consumer as it attached: where it reads and the selector it asked for."""

    hub: str
    consumer_group: str
    partition_id: str
    selector: str | None


@dataclass
class _Cursor:
    consumer: ConsumerLink
    next_index: int


@dataclass
class EventHubs:
    """The logs of every configured hub; used by the broker under its lock, from its own thread."""

    partition_counts: dict[str, int]
    logs: dict[tuple[str, str], list[StoredEvent]] = field(default_factory=lambda: defaultdict(list))
    consumers: list[ConsumerLink] = field(default_factory=list)
    _cursors: dict[Link, _Cursor] = field(default_factory=dict)
    _round_robin: itertools.count[int] = field(default_factory=itertools.count)

    def partition_ids(self, hub: str) -> list[str]:
        return [str(n) for n in range(self.partition_counts[hub])]

    def hub_of(self, address: str) -> tuple[str, str | None] | None:
        """The hub an address sends to, and the partition it names, if any."""
        if address in self.partition_counts:
            return address, None
        match = _PARTITION_ADDRESS.match(address)
        if match and match["hub"] in self.partition_counts:
            return match["hub"], match["partition"]
        return None

    def append(self, hub: str, partition: str | None, messages: list[Message], envelope: dict[Any, Any]) -> None:
        for message in messages:
            key = (message.annotations or {}).get(PARTITION_KEY, envelope.get(PARTITION_KEY))
            target = partition
            if target is None:
                index = zlib.crc32(str(key).encode()) if key is not None else next(self._round_robin)
                target = str(index % self.partition_counts[hub])
            log = self.logs[(hub, target)]
            encoded = message.encode()
            offset = log[-1].offset + len(log[-1].encoded) if log else 0
            sequence = log[-1].sequence_number + 1 if log else 0
            log.append(
                StoredEvent(encoded, sequence, offset, int(time.time() * 1000), None if key is None else str(key))
            )

    def properties(self, hub: str) -> dict[str, Any]:
        return {
            "name": hub,
            "created_at": timestamp(0),
            "partition_count": self.partition_counts[hub],
            "partition_ids": self.partition_ids(hub),
        }

    def attach(self, link: Link, address: str) -> bool:
        """Register a consumer link; False when the address is not a partition of a configured hub."""
        match = _CONSUMER_ADDRESS.match(address)
        if not match or match["hub"] not in self.partition_counts:
            return False
        selector = _selector_of(link)
        consumer = ConsumerLink(match["hub"], match["group"], match["partition"], selector)
        self.consumers.append(consumer)
        self._cursors[link] = _Cursor(consumer, self._start_index(consumer))
        return True

    def _start_index(self, consumer: ConsumerLink) -> int:
        log = self.logs[(consumer.hub, consumer.partition_id)]
        parsed = _SELECTOR.search(consumer.selector or "")
        if parsed is None:
            return 0
        annotation, operator, value = parsed.groups()
        bound = int(value)
        for index, event in enumerate(log):
            position = event.position(annotation)
            if position > bound or (operator == ">=" and position == bound):
                return index
        return len(log)

    def detach(self, link: Link) -> None:
        self._cursors.pop(link, None)

    def is_consumer(self, link: Link) -> bool:
        return link in self._cursors

    def links(self) -> list[Link]:
        return list(self._cursors)

    def next_events(self, link: Link) -> list[StoredEvent]:
        """What the link has credit for, advancing its cursor past it."""
        cursor = self._cursors.get(link)
        if cursor is None:
            return []
        log = self.logs[(cursor.consumer.hub, cursor.consumer.partition_id)]
        events = log[cursor.next_index : cursor.next_index + max(link.credit, 0)]
        cursor.next_index += len(events)
        return events


def send_event(link: Link, event: StoredEvent) -> None:
    message = Message()
    message.decode(event.encoded)
    message.annotations = {**(message.annotations or {}), **event.annotations()}
    link.send(message, tag=uuid.uuid4().bytes)


def _selector_of(link: Link) -> str | None:
    data = link.remote_source.filter
    data.rewind()
    if not data.next():
        return None
    filters = data.get_object() or {}
    described = filters.get(SELECTOR_FILTER)
    value = getattr(described, "value", described)
    return None if value is None else str(value)
