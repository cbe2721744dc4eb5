"""The broker: one proton Container in a background thread, serving queues, event hubs, CBS and `$management`.

Only what the Azure SDKs use is answered. Addresses are plain names: whatever a client sends to an
address can be received from it, and also from each subscription added with `add_subscription`.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
import weakref
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from proton import Condition, Delivery, Endpoint, Link, Message, symbol, timestamp, ulong
from proton.handlers import EndpointStateHandler, MessagingHandler
from proton.reactor import ApplicationEvent, Container, EventInjector

from tests.support.amqp_broker.eventhub import EVENTHUB_MANAGEMENT_TYPE, ConsumerLink, EventHubs, send_event
from tests.support.amqp_broker.frames import unpack_transfer
from tests.support.amqp_broker.wire import FullFieldsRelay

CBS_NODE = "$cbs"
MANAGEMENT_SUFFIX = "$management"
DEAD_LETTER_SUFFIX = "/$deadletterqueue"
LOCK_DURATION_MS = 60_000
SESSION_FILTER = "com.microsoft:session-filter"
SESSION_LOCKED_UNTIL = "com.microsoft:locked-until-utc"
RENEW_SESSION_LOCK = "com.microsoft:renew-session-lock"
SCHEDULE_MESSAGE = "com.microsoft:schedule-message"
SCHEDULED_ENQUEUE_TIME = symbol("x-opt-scheduled-enqueue-time")
_TICKS_AT_EPOCH = 621_355_968_000_000_000


@dataclass(frozen=True)
class Delivered:
    """One message as it reached an address (a batch arrives as one transfer of several)."""

    address: str
    message: Message
    transfer: int
    envelope_annotations: dict[Any, Any]


@dataclass(frozen=True)
class Settlement:
    address: str
    message_id: Any
    outcome: str
    condition: str | None = None
    info: dict[Any, Any] | None = None


@dataclass
class _Stored:
    message: Message
    sequence_number: int
    failed_deliveries: int = 0


@dataclass
class _State:
    delivered: list[Delivered] = field(default_factory=list)
    transfer_sizes: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    settlements: list[Settlement] = field(default_factory=list)
    queues: dict[str, deque[_Stored]] = field(default_factory=lambda: defaultdict(deque))
    tokens: list[str] = field(default_factory=list)
    management_operations: list[str] = field(default_factory=list)


class AmqpTestBroker(MessagingHandler):  # type: ignore[misc]
    """Start with `running_broker()`; read what arrived with `delivered()`, wait with `wait_until()`."""

    def __init__(
        self,
        *,
        max_message_size: int = 1024 * 1024,
        max_batch_size: int | None = None,
        token_status: int = 202,
        event_hubs: dict[str, int] | None = None,
        session_lock_ms: int = LOCK_DURATION_MS,
    ) -> None:
        super().__init__(prefetch=0, auto_accept=False, auto_settle=False, peer_close_is_error=False)
        self.handlers = [
            _DeferringEndpoints(False, weakref.proxy(self)) if isinstance(h, EndpointStateHandler) else h
            for h in self.handlers
        ]
        self.max_message_size = max_message_size
        self.max_batch_size = max_batch_size
        self.token_status = token_status
        self.port = _free_port()
        self._proton_port = _free_port()
        self._wire = FullFieldsRelay(self.port, self._proton_port)
        self._changed = threading.Condition()
        self._state = _State()
        self._subscriptions: dict[str, list[str]] = defaultdict(list)
        self._refusals: dict[str, int] = {}
        self.session_lock_ms = session_lock_ms
        self._session_of: dict[Link, str] = {}
        self.deferred: dict[Link, str | None] = {}
        self._session_locks: dict[tuple[str, str], tuple[Link, float]] = {}
        self.session_renewals: list[str] = []
        self.scheduled: list[tuple[str, Any, float]] = []
        self._consumers: list[Link] = []
        self._sequence = 0
        self._event_hubs = EventHubs(dict(event_hubs or {}))
        self._injector = EventInjector()
        self._container = Container(self)
        self._container.selectable(self._injector)
        self._listening = threading.Event()
        self._thread = threading.Thread(target=self._container.run, name="amqp-test-broker", daemon=True)

    # --- used by tests -------------------------------------------------------------------------

    def connection_string(self, entity: str | None = None, *, key: str = "test-shared-access-key") -> str:
        text = (
            f"Endpoint=sb://127.0.0.1:{self.port};SharedAccessKeyName=RootManageSharedAccessKey;"
            f"SharedAccessKey={key};UseDevelopmentEmulator=true"
        )
        return f"{text};EntityPath={entity}" if entity else text

    def add_subscription(self, topic: str, subscription: str) -> str:
        address = f"{topic}/Subscriptions/{subscription}"
        with self._changed:
            self._subscriptions[topic].append(address)
        return address

    def refuse_settlements(self, outcome: str, times: int = 1) -> None:
        """Fail the next `times` settlements asking for `outcome` (`accepted`, `modified`, `rejected` for a
        dead-letter): the broker answers with an error, as Service Bus does for one it could not apply, and
        the message stays where it was, locked until the lock would expire (here: queued again at once)."""
        with self._changed:
            self._refusals[outcome] = times

    def delivered(self, address: str | None = None) -> list[Delivered]:
        with self._changed:
            return [d for d in self._state.delivered if address is None or d.address == address]

    def transfer_sizes(self, address: str) -> list[int]:
        """The encoded size of each transfer that reached `address`: one per batch sent."""
        with self._changed:
            return list(self._state.transfer_sizes[address])

    def settlements(self) -> list[Settlement]:
        with self._changed:
            return list(self._state.settlements)

    def queued(self, address: str) -> list[Message]:
        with self._changed:
            return [stored.message for stored in self._state.queues[address]]

    def tokens(self) -> list[str]:
        with self._changed:
            return list(self._state.tokens)

    def management_operations(self) -> list[str]:
        with self._changed:
            return list(self._state.management_operations)

    def consumer_links(self) -> list[ConsumerLink]:
        """Every event hub consumer that attached, with the position it asked to start from."""
        with self._changed:
            return list(self._event_hubs.consumers)

    def wait_until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError("the broker did not reach the expected state in time")
                self._changed.wait(remaining)

    def start(self) -> None:
        self._thread.start()
        if not self._listening.wait(60):  # generous: a loaded CI machine can take long to schedule the thread
            raise RuntimeError("the AMQP test broker did not start within 60 s")
        self._wire.start()

    def stop(self) -> None:
        self._wire.stop()
        self._injector.trigger(ApplicationEvent("shutdown"))
        self._thread.join(10)

    # --- proton events -------------------------------------------------------------------------

    def on_start(self, event: Any) -> None:
        self._acceptor = event.container.listen(f"127.0.0.1:{self._proton_port}")
        self._listening.set()

    def on_shutdown(self, event: Any) -> None:
        self._acceptor.close()
        for link in self._consumers:
            link.connection.close()
        self._injector.close()
        self._container.stop()

    def on_connection_init(self, event: Any) -> None:
        event.transport.sasl().allowed_mechs("ANONYMOUS PLAIN")
        # pyamqp reads the open frame's fields up to `properties` by index: proton then encodes them all.
        event.connection.properties = {symbol("product"): "amqp-test-broker"}

    def on_link_opening(self, event: Any) -> None:
        link = event.link
        if link.is_receiver:
            link.target.address = link.remote_target.address
            link.source.address = link.remote_source.address
            link.max_message_size = self.max_message_size
            if self.max_batch_size is not None:
                link.properties = {symbol("com.microsoft:max-message-batch-size"): ulong(self.max_batch_size)}
            link.open()
            link.flow(1000)
        else:
            link.source.address = link.remote_source.address
            link.target.address = link.remote_target.address
            wanted = _session_filter(link)
            if wanted is not False:
                self._attach_session(link, wanted if isinstance(wanted, str) else None)
                return
            with self._changed:
                self._event_hubs.attach(link, entity_of(link.remote_source.address))
                self._changed.notify_all()
            link.open()
            self._consumers.append(link)

    def on_link_closing(self, event: Any) -> None:
        self.deferred.pop(event.link, None)
        with self._changed:
            session = self._session_of.pop(event.link, None)
            address = entity_of(event.link.remote_source.address)
            if session is not None and self._session_locks.get((address, session), (None,))[0] == event.link:
                del self._session_locks[(address, session)]
            self._changed.notify_all()
        if event.link in self._consumers:
            self._consumers.remove(event.link)
        with self._changed:
            self._event_hubs.detach(event.link)
        event.link.close()
        if session is not None:
            self._attach_waiting_sessions()

    def on_sendable(self, event: Any) -> None:
        self._pump(event.link)

    def on_delivery(self, event: Any) -> None:
        delivery = event.delivery
        if delivery.link.is_receiver:
            if delivery.readable and not delivery.partial:
                self._receive(delivery)
        elif delivery.updated:
            self._settle(delivery)

    # --- incoming transfers --------------------------------------------------------------------

    def _receive(self, delivery: Delivery) -> None:
        link = delivery.link
        raw = link.recv(delivery.pending)
        link.advance()
        address = entity_of(link.remote_target.address)
        if address == CBS_NODE:
            self._reply(link, _decode(raw), self._put_token(_decode(raw)))
        elif address.endswith(MANAGEMENT_SUFFIX):
            request = _decode(raw)
            self._reply(link, request, *self._management(request, address))
        else:
            self._store(address, raw)
        delivery.update(Delivery.ACCEPTED)
        delivery.settle()
        if link.credit < 100:
            link.flow(1000)

    def _store(self, address: str, raw: bytes) -> None:
        messages, envelope_annotations = unpack_transfer(raw)
        hub = self._event_hubs.hub_of(address)
        with self._changed:
            if hub is not None:
                self._event_hubs.append(*hub, messages, envelope_annotations)
            self._state.transfer_sizes[address].append(len(raw))
            number = len(self._state.transfer_sizes[address])
            for message in messages:
                self._state.delivered.append(Delivered(address, message, number, envelope_annotations))
                for queue in (address, *self._subscriptions[address]):
                    self._sequence += 1
                    self._state.queues[queue].append(_Stored(message, self._sequence))
            self._changed.notify_all()
        self._attach_waiting_sessions()
        for consumer in list(self._consumers):
            self._pump(consumer)

    def _put_token(self, request: Message) -> dict[str, Any]:
        with self._changed:
            self._state.tokens.append(str(request.properties.get("name")))
            self._changed.notify_all()
        return {"status-code": self.token_status, "status-description": f"status {self.token_status}"}

    def _management(self, request: Message, address: str = "") -> tuple[dict[str, Any], Any]:
        """Records the operation; only an event hub's READ is implemented (Service Bus falls back to links)."""
        operation = str(request.properties.get("operation"))
        kind = request.properties.get("type")
        hub = str(request.properties.get("name"))
        with self._changed:
            self._state.management_operations.append(operation)
            self._changed.notify_all()
            if operation == "READ" and kind == EVENTHUB_MANAGEMENT_TYPE and hub in self._event_hubs.partition_counts:
                return {"status-code": 200, "status-description": "OK"}, self._event_hubs.properties(hub)
            if operation == RENEW_SESSION_LOCK:
                return self._renew_session(request)
            if operation == SCHEDULE_MESSAGE:
                return self._schedule(address.removesuffix(MANAGEMENT_SUFFIX).rstrip("/"), request)
        return {"status-code": 501, "statusCode": 501, "status-description": f"{operation} is not implemented"}, None

    def _reply(self, link: Link, request: Message, properties: dict[str, Any], body: Any = None) -> None:
        reply = Message(correlation_id=request.id, properties=properties, body=body)
        reply.address = request.reply_to
        node = entity_of(link.remote_target.address)
        for candidate in _links_of(link.session):
            addressed = request.reply_to in (None, candidate.remote_target.address)
            if candidate.is_sender and addressed and entity_of(candidate.remote_source.address) == node:
                candidate.send(reply, tag=uuid.uuid4().bytes)
                return
        raise RuntimeError(f"no reply link for {node!r}")

    # --- sessions ------------------------------------------------------------------------------

    def _attach_session(self, link: Link, wanted: str | None) -> None:
        """Lock the session asked for, or the first one with messages that nobody holds (next available).

        When none can be had, the attach waits unanswered, as Service Bus lets it wait, until a session
        becomes free or the client gives up and detaches.
        """
        address = entity_of(link.remote_source.address)
        now = time.monotonic()
        with self._changed:
            held = {
                session
                for (where, session), (_, until) in self._session_locks.items()
                if where == address and until > now
            }
            if wanted is not None:
                session = wanted if wanted not in held else None
            else:
                waiting = (stored.message.group_id for stored in self._state.queues[address])
                session = next((group for group in waiting if group is not None and group not in held), None)
            if session is not None:
                self._session_locks[(address, session)] = (link, now + self.session_lock_ms / 1000)
                self._session_of[link] = session
            self._changed.notify_all()
        if session is None:
            self.deferred[link] = wanted
            return
        self.deferred.pop(link, None)
        link.source.filter.put_map()
        link.source.filter.enter()
        link.source.filter.put_symbol(SESSION_FILTER)
        link.source.filter.put_string(session)
        link.source.filter.exit()
        link.properties = {symbol(SESSION_LOCKED_UNTIL): _ticks(time.time() + self.session_lock_ms / 1000)}
        self._consumers.append(link)
        if link.state & Endpoint.LOCAL_ACTIVE == 0:
            link.open()

    def _attach_waiting_sessions(self) -> None:
        for link, wanted in list(self.deferred.items()):
            self._attach_session(link, wanted)

    def _renew_session(self, request: Message) -> tuple[dict[str, Any], Any]:
        session = str((request.body or {}).get("session-id"))
        with self._changed:
            self.session_renewals.append(session)
            for (address, locked), (link, _) in list(self._session_locks.items()):
                if locked == session:
                    self._session_locks[(address, locked)] = (link, time.monotonic() + self.session_lock_ms / 1000)
            self._changed.notify_all()
        expiration = timestamp(int(time.time() * 1000) + self.session_lock_ms)
        return {"status-code": 200, "statusCode": 200, "status-description": "OK"}, {"expiration": expiration}

    def _schedule(self, address: str, request: Message) -> tuple[dict[str, Any], Any]:
        """Hold each message until its `x-opt-scheduled-enqueue-time`, then enqueue it (called with the lock held)."""
        numbers = []
        for entry in (request.body or {}).get("messages", []):
            message = _decode(bytes(entry["message"]))
            due = float((message.annotations or {}).get(SCHEDULED_ENQUEUE_TIME, 0)) / 1000
            self._sequence += 1
            numbers.append(self._sequence)
            self.scheduled.append((address, message.id, due))
            due_event = ApplicationEvent("scheduled_due", subject=(address, message))
            timer = threading.Timer(max(0.0, due - time.time()), self._injector.trigger, (due_event,))
            timer.daemon = True
            timer.start()
        return {"status-code": 200, "statusCode": 200, "status-description": "OK"}, {"sequence-numbers": numbers}

    def on_scheduled_due(self, event: Any) -> None:
        """A scheduled message came due: store it as if it had just been sent to its address."""
        address, message = event.subject
        with self._changed:
            self._sequence += 1
            self._state.queues[address].append(_Stored(message, self._sequence))
            self._changed.notify_all()
        self._attach_waiting_sessions()
        for consumer in list(self._consumers):
            self._pump(consumer)

    def sessions(self) -> dict[str, str]:
        """Which link's session is locked: session id -> the link's name."""
        with self._changed:
            return {session: link.name for (_, session), (link, _) in self._session_locks.items()}

    # --- outgoing transfers and their settlement -----------------------------------------------

    def _pump(self, link: Link) -> None:
        with self._changed:
            events = self._event_hubs.next_events(link) if self._event_hubs.is_consumer(link) else None
        if events is not None:
            for stored_event in events:
                send_event(link, stored_event)
            return
        address = entity_of(link.remote_source.address)
        session = self._session_of.get(link)
        while link.credit > 0:
            with self._changed:
                queue = self._state.queues[address]
                if session is not None:
                    stored = next((s for s in queue if s.message.group_id == session), None)
                    if stored is None:
                        return
                    queue.remove(stored)
                elif not queue:
                    return
                else:
                    stored = queue.popleft()
            message = stored.message
            message.delivery_count = stored.failed_deliveries
            message.durable = True
            message.annotations = {
                **(message.annotations or {}),
                symbol("x-opt-sequence-number"): stored.sequence_number,
                symbol("x-opt-enqueued-time"): timestamp(int(time.time() * 1000)),
                symbol("x-opt-locked-until"): timestamp(int(time.time() * 1000) + LOCK_DURATION_MS),
            }
            delivery = link.send(message, tag=uuid.uuid4().bytes)
            delivery.queued = (address, stored)

    def _settle(self, delivery: Delivery) -> None:
        address, stored = getattr(delivery, "queued", ("", None))
        if stored is None:
            delivery.settle()
            return
        state = delivery.remote_state
        outcome = {
            Delivery.ACCEPTED: "accepted",
            Delivery.RELEASED: "released",
            Delivery.MODIFIED: "modified",
            Delivery.REJECTED: "rejected",
        }.get(state, str(state))
        condition = delivery.remote.condition
        with self._changed:
            if self._refusals.get(outcome, 0) > 0:
                self._refusals[outcome] -= 1
                self._state.settlements.append(Settlement(address, stored.message.id, "refused", outcome))
                stored.failed_deliveries += 1
                _requeue(self._state.queues[address], stored)
                self._changed.notify_all()
                delivery.local.condition = Condition("amqp:internal-error", f"the broker refused to {outcome} it")
                delivery.update(Delivery.REJECTED)
                delivery.settle()
                return
            self._state.settlements.append(
                Settlement(
                    address,
                    stored.message.id,
                    outcome,
                    condition.name if condition else None,
                    dict(condition.info) if condition and condition.info else None,
                )
            )
            if outcome in ("released", "modified"):
                stored.failed_deliveries += 1
                _requeue(self._state.queues[address], stored)
            elif outcome == "rejected":
                self._state.queues[address + DEAD_LETTER_SUFFIX].append(stored)
            self._changed.notify_all()
        # The SDK compares the echoed outcome with the one it asked for; a rejected echo must carry no error.
        delivery.update(state)
        delivery.settle()
        for consumer in list(self._consumers):
            self._pump(consumer)


def entity_of(address: str | None) -> str:
    """The entity path of an address: SDKs send `amqps://host:port/queue`, or just `$cbs`."""
    text = address or ""
    if "://" in text:
        text = text.split("://", 1)[1].partition("/")[2]
    return text


class _DeferringEndpoints(EndpointStateHandler):  # type: ignore[misc]
    """Proton's endpoint handler, except that a link the broker defers (a session receiver waiting for a
    session) is not opened right after `on_link_opening`."""

    def on_link_remote_open(self, event: Any) -> None:
        if self.is_local_uninitialised(event.link):
            self.on_link_opening(event)
            if event.link not in self.delegate.deferred and self.is_local_uninitialised(event.link):
                event.link.open()
        elif self.is_local_open(event.link):
            self.on_link_opened(event)


def _requeue(queue: deque[_Stored], stored: _Stored) -> None:
    """Put a message back where it was: Service Bus keeps a released message's place (its sequence number)."""
    index = next((n for n, other in enumerate(queue) if other.sequence_number > stored.sequence_number), len(queue))
    queue.insert(index, stored)


def _ticks(seconds: float) -> int:
    """A time as .NET ticks (100 ns since 0001-01-01), the unit of `com.microsoft:locked-until-utc`."""
    return _TICKS_AT_EPOCH + int(seconds * 10_000_000)


def _session_filter(link: Link) -> str | bool | None:
    """The session a receiving link asks for: an id, None for the next available one, False for no session."""
    data = link.remote_source.filter
    data.rewind()
    if not data.next():
        return False
    filters = data.get_object()
    if not isinstance(filters, dict) or SESSION_FILTER not in {str(key) for key in filters}:
        return False
    value = next(value for key, value in filters.items() if str(key) == SESSION_FILTER)
    return None if value is None else str(value)


def _links_of(session: Any) -> Iterator[Link]:
    link = session.connection.link_head(0)
    while link is not None:
        if link.session == session:
            yield link
        link = link.next(0)


def _decode(raw: bytes) -> Message:
    message = Message()
    message.decode(raw)
    return message


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running_broker(**options: Any) -> Iterator[AmqpTestBroker]:
    broker = AmqpTestBroker(**options)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


__all__ = ["AmqpTestBroker", "Delivered", "Settlement", "running_broker"]
