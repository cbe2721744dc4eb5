"""Where a Storage Queue triggered function puts a message aside: `{queue}-poison`, as the runtime would."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Awaitable, Callable

from messagehandler.azure_errors import azure_errors
from messagehandler.extras import requires_extra

with requires_extra("storage-queue", "the poison queue of a queue-triggered function", ("azure.storage.queue",)):
    from azure.core.exceptions import ResourceExistsError
    from azure.storage.queue.aio import QueueClient

    from messagehandler.channels.transactional.storage_queue_clients import POISON_SUFFIX


def storage_poison_queue(connection_string: str, queue_name: str) -> Callable[[bytes, str], Awaitable[None]]:
    """An async `poison(body, reason)` that copies a message body to `{queue_name}-poison` (created when missing).

    The body is sent base64-encoded, the Functions runtime's default `messageEncoding`, so the message
    reads the same as one the runtime moved there itself.
    """
    name = queue_name + POISON_SUFFIX

    async def poison(body: bytes, reason: str) -> None:
        async with QueueClient.from_connection_string(connection_string, name) as client:
            with azure_errors(f"queue {name!r}", action="set a message aside", secrets=(connection_string,)):
                with contextlib.suppress(ResourceExistsError):
                    await client.create_queue()
                await client.send_message(base64.b64encode(body).decode("ascii"))

    return poison
