"""The broker's side of the wire: every performative it sends carries all of its fields.

AMQP 1.0 (section 1.4) lets a peer omit trailing fields that hold their default, and proton does; the
real Service Bus and Event Hubs services send them, and azure-eventhub's frame decoder reads them by
position without padding the missing ones. So the broker listens through this relay, which forwards
what clients send unchanged and rewrites each performative proton sends with its omitted trailing
fields as explicit nulls (which AMQP defines as the default): what the SDK reads is what the service
sends, and the SDK itself runs unpatched.
"""

from __future__ import annotations

import contextlib
import socket
import threading

# The number of fields of each performative, by descriptor code (AMQP 1.0 sections 2.7 and 5.3.3).
FIELDS = {
    0x10: 10,  # open
    0x11: 8,  # begin
    0x12: 14,  # attach
    0x13: 11,  # flow
    0x14: 11,  # transfer
    0x15: 6,  # disposition
    0x16: 3,  # detach
    0x17: 1,  # end
    0x18: 1,  # close
    0x40: 1,  # sasl-mechanisms
    0x41: 3,  # sasl-init
    0x42: 1,  # sasl-challenge
    0x43: 1,  # sasl-response
    0x44: 2,  # sasl-outcome
}
_NULL = b"\x40"
_PROTOCOL_HEADER = b"AMQP"


def with_all_fields(frame: bytes) -> bytes:
    """`frame` with its performative's omitted trailing fields written as nulls; other frames unchanged."""
    header_size = frame[4] * 4
    body = frame[header_size:]
    if len(body) < 4 or body[0] != 0x00 or body[1] != 0x53:
        return frame
    code, rest = body[2], body[3:]
    if rest[0] == 0x45:
        count, content, after = 0, b"", rest[1:]
    elif rest[0] == 0xC0:
        size, count = rest[1], rest[2]
        content, after = rest[3 : 2 + size], rest[2 + size :]
    elif rest[0] == 0xD0:
        size, count = int.from_bytes(rest[1:5], "big"), int.from_bytes(rest[5:9], "big")
        content, after = rest[9 : 5 + size], rest[5 + size :]
    else:
        return frame
    missing = FIELDS.get(code, count) - count
    if missing <= 0:
        return frame
    content += _NULL * missing
    fields = b"\xd0" + (len(content) + 4).to_bytes(4, "big") + (count + missing).to_bytes(4, "big") + content
    new_body = body[:3] + fields + after
    return (header_size + len(new_body)).to_bytes(4, "big") + frame[4:header_size] + new_body


class FullFieldsRelay:
    """Listens on `port` and joins each connection to `target_port`, padding what flows back to the client."""

    def __init__(self, port: int, target_port: int) -> None:
        self.port = port
        self.target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", port))
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = False
        self._thread = threading.Thread(target=self._accept, name="amqp-broker-wire", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped = True
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._sockets |= {client, server}
            threading.Thread(target=self._copy, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pad, args=(server, client), daemon=True).start()

    def _copy(self, source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        self._close(source, target)

    def _pad(self, source: socket.socket, target: socket.socket) -> None:
        pending = b""
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                pending += data
                out, pending = _frames(pending)
                if out:
                    target.sendall(out)
        self._close(source, target)

    def _close(self, *sockets: socket.socket) -> None:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _frames(pending: bytes) -> tuple[bytes, bytes]:
    """The complete protocol headers and frames at the start of `pending`, padded; and the rest."""
    out = bytearray()
    while True:
        if pending.startswith(_PROTOCOL_HEADER):
            if len(pending) < 8:
                break
            out += pending[:8]
            pending = pending[8:]
            continue
        if len(pending) < 8:
            break
        size = int.from_bytes(pending[:4], "big")
        if len(pending) < size:
            break
        out += with_all_fields(pending[:size])
        pending = pending[size:]
    return bytes(out), pending
