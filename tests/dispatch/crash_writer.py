"""A writer process that dies at a chosen moment of a flush, for the outbox crash tests.

    python -m tests.dispatch.crash_writer TABLE QUEUE before-commit|after-commit|after-publish

The connection string comes from MESSAGEHANDLER_TEST_CONNECTION_STRING. The process kills itself
with SIGKILL (no clean-up, no finally blocks), as a crashed host would die.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

from messagehandler import AggregateRepository
from messagehandler.channels.dispatcher import Dispatcher
from messagehandler.channels.transactional.storage_queue import StorageQueueChannel
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from samples.organization import Organization


def die(*_: Any, **__: Any) -> Any:
    os.kill(os.getpid(), signal.SIGKILL)


async def main(table: str, queue: str, moment: str) -> None:
    connection_string = os.environ["MESSAGEHANDLER_TEST_CONNECTION_STRING"]
    async with AzureTableStorageEventSource.from_connection_string(connection_string, table, outbox=True) as source:
        channel = StorageQueueChannel.from_connection_string(connection_string, queue)
        dispatcher = Dispatcher().add_channel(channel).route("Organization").to(queue)
        repository = AggregateRepository(source, dispatcher=dispatcher)
        org = Organization("crashed")
        org.register("Crash Test Dummies")
        org.rename("Crash Test Dummies Ltd")
        repository.add(org)
        if moment == "before-commit":
            source.table_client.submit_transaction = die  # type: ignore[method-assign]
        elif moment == "after-commit":
            channel.publish = die  # type: ignore[method-assign]
        await repository.flush()
        if moment == "after-publish":
            die()  # published; the outbox row's clear is queued, not sent
    raise SystemExit("the writer was meant to die during the flush")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
