"""Checkpoints in Azure Table Storage, for read models that restart on another machine.

A checkpoint may be far larger than one entity (1 MiB) or one transaction (4 MiB), so it is written
as a new generation of chunk rows and one `head` row naming that generation. All rows of a checkpoint
share its partition, so they are written in entity group transactions, and the head travels in the
last one: a checkpoint that fits one transaction is replaced atomically, a larger one becomes visible
when its head does. The previous generation's rows are then deleted, in transactions too.

A reader reads the head, then its generation's rows, and checks them against the head (row count and
SHA-256). A save elsewhere may delete those rows while they are read; the reader then reads the head
again and, when it names a newer generation, reads that one: a concurrent save never makes a reader
take a sound checkpoint for a damaged one. Chunks are zlib-compressed.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from messagehandler.azure_errors import azure_errors, error_code
from messagehandler.extras import requires_extra
from messagehandler.projections.checkpoints import check_name
from messagehandler.projections.errors import CorruptCheckpointError

with requires_extra("azure-tables", "the Table Storage checkpoint store", ("azure.data.tables",)):
    from azure.core import MatchConditions
    from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
    from azure.data.tables import TableTransactionError, UpdateMode
    from azure.data.tables.aio import TableClient

CHUNK_BYTES = 32_000
"""Below the 64 KiB limit of a binary property, and within Azurite's own limits."""
CHUNKS_PER_ROW = 8
TRANSACTION_BUDGET = 3 * 1024 * 1024
"""JSON bytes of one transaction's rows, well under the 4 MiB a transaction may carry."""
MAX_OPERATIONS = 100
ORPHAN_AGE = timedelta(hours=1)
"""Chunk rows of no head this old were left by a writer that died or lost a race; the next save deletes them."""
READ_ATTEMPTS = 8
"""How many newer generations a reader follows while saves keep replacing the one it reads."""
_HEAD = "head"
_GONE = frozenset({"ResourceNotFound", "EntityNotFound"})
_HEAD_CHANGED = frozenset({"UpdateConditionNotSatisfied", "ConditionNotMet", "EntityAlreadyExists"}) | _GONE
"""What a conditional head write meets when another writer replaced (or created, or removed) the head first."""


class TableCheckpointStore:
    """Implements `CheckpointStore` on one table; PartitionKey is the checkpoint name.

    Failures of the service are `messagehandler` errors (`ServiceUnavailableError`,
    `AccessDeniedError`, `ResourceNotFoundError` for a missing table with `create_table=False`).
    """

    def __init__(self, client: TableClient, *, create_table: bool = True) -> None:
        self.client = client
        self._create_table = create_table
        self._ready = not create_table
        self._service = f"table {client.table_name!r}"

    @classmethod
    def from_connection_string(cls, conn_str: str, table_name: str = "Checkpoints") -> TableCheckpointStore:
        store = cls(TableClient.from_connection_string(conn_str, table_name))
        store._secrets = (conn_str,)
        return store

    _secrets: tuple[str, ...] = ()

    async def close(self) -> None:
        await self.client.close()

    async def __aenter__(self) -> TableCheckpointStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _errors(self, action: str) -> contextlib.AbstractContextManager[None]:
        return azure_errors(self._service, action=action, secrets=self._secrets)

    async def _ensure_table(self) -> None:
        if not self._ready:
            with self._errors("create the table"), contextlib.suppress(ResourceExistsError):
                await self.client.create_table()
            self._ready = True

    async def read(self, name: str) -> bytes | None:
        """The checkpoint's document; None when there is none.

        Raises:
            CorruptCheckpointError: the rows do not match their head, and no save replaced them.
            ServiceUnavailableError: the table could not be read.
        """
        return (await self.read_tagged(name))[0]

    async def read_tagged(self, name: str) -> tuple[bytes | None, str | None]:
        """The document and the ETag of the head row that named it, for `write_if`; raises as `read` does."""
        partition = check_name(name)
        await self._ensure_table()
        head = await self._head(partition)
        for _ in range(READ_ATTEMPTS):
            if head is None:
                return None, None
            compressed = await self._generation(partition, head)
            if compressed is not None:
                try:
                    return zlib.decompress(compressed), str(head.metadata["etag"])
                except zlib.error as error:
                    raise CorruptCheckpointError(f"checkpoint {name!r} cannot be decompressed: {error}") from None
            latest = await self._head(partition)
            if latest is not None and latest["Generation"] == head["Generation"]:
                raise CorruptCheckpointError(f"checkpoint {name!r} in table {self.client.table_name!r} is incomplete")
            head = latest  # a save replaced the generation while it was read: read the new one
        raise CorruptCheckpointError(
            f"checkpoint {name!r} in table {self.client.table_name!r} was replaced {READ_ATTEMPTS} times while "
            "it was read"
        )

    async def _head(self, partition: str) -> Any:
        with self._errors(f"read the head of checkpoint {partition!r}"):
            try:
                return await self.client.get_entity(partition, _HEAD)
            except ResourceNotFoundError as error:
                if getattr(error, "error_code", None) == "TableNotFound":
                    raise
                return None

    async def _generation(self, partition: str, head: Any) -> bytes | None:
        """The compressed document of the head's generation; None when its rows are not all there."""
        rows = [row async for row in self._rows(partition, str(head["Generation"]))]
        compressed = b"".join(row[f"D{i}"] for row in rows for i in range(CHUNKS_PER_ROW) if f"D{i}" in row)
        if len(rows) != head["Rows"] or hashlib.sha256(compressed).hexdigest() != head["Sha256"]:
            return None
        return compressed

    async def write(self, name: str, data: bytes) -> None:
        """Replace the checkpoint with `data`; readers see the old document or the new one, never a mix.

        Raises:
            ServiceUnavailableError: the table could not be written; the old checkpoint is still whole.
        """
        partition = check_name(name)
        await self._ensure_table()
        await self._write(partition, data, await self._head(partition), lambda head: ("upsert", head))

    async def write_if(self, name: str, data: bytes, tag: str | None) -> bool:
        """Replace the checkpoint only when its head still has ETag `tag` (None: when there is none yet).

        The head row is created, or replaced under `If-Match`, in the last transaction: a writer that
        lost the race writes no head, and deletes its chunk rows again.

        Raises:
            ServiceUnavailableError: the table could not be written; the old checkpoint is still whole.
        """
        partition = check_name(name)
        await self._ensure_table()
        previous = await self._head(partition)
        if (None if previous is None else str(previous.metadata["etag"])) != tag:
            return False
        if tag is None:
            return await self._write(partition, data, previous, lambda head: ("create", head))
        condition = {"mode": UpdateMode.REPLACE, "etag": tag, "match_condition": MatchConditions.IfNotModified}
        return await self._write(partition, data, previous, lambda head: ("update", head, condition))

    async def _write(
        self, partition: str, data: bytes, previous: Any, head_operation: Callable[[dict[str, Any]], Any]
    ) -> bool:
        """Write a new generation and its head; then delete the generation it replaced and old orphans.

        Only the replaced generation (and rows older than `ORPHAN_AGE`, left by writers that died or
        lost) is deleted: a concurrent writer's rows, written for a head still to come, are never touched.
        """
        compressed = zlib.compress(data, 1)
        generation = uuid.uuid4().hex
        chunks = [compressed[i : i + CHUNK_BYTES] for i in range(0, len(compressed), CHUNK_BYTES)] or [b""]
        rows: list[dict[str, Any]] = []
        for index in range(0, len(chunks), CHUNKS_PER_ROW):
            entity: dict[str, Any] = {
                "PartitionKey": partition,
                "RowKey": f"{generation}_{index // CHUNKS_PER_ROW:06d}",
            }
            entity.update({f"D{i}": chunk for i, chunk in enumerate(chunks[index : index + CHUNKS_PER_ROW])})
            rows.append(entity)
        head = {
            "PartitionKey": partition,
            "RowKey": _HEAD,
            "Generation": generation,
            "Rows": len(rows),
            "Sha256": hashlib.sha256(compressed).hexdigest(),
        }
        operations: list[Any] = [("upsert", row) for row in rows] + [head_operation(head)]
        with self._errors(f"write checkpoint {partition!r}"):
            for batch in _batches(operations):
                try:
                    await self.client.submit_transaction(batch)
                except TableTransactionError as error:
                    if batch[-1][1] is not head or error_code(error) not in _HEAD_CHANGED:
                        raise
                    current = await self._head(partition)
                    if current is None or current["Generation"] != generation:
                        await self._delete_rows(partition, lambda key, _: key.startswith(f"{generation}_"))
                        return False
                    break  # a retry of a head write that had landed: this generation is the checkpoint
        replaced = None if previous is None else f"{previous['Generation']}_"
        orphaned = datetime.now(UTC) - ORPHAN_AGE

        def doomed(key: str, written: datetime | None) -> bool:
            if replaced is not None and key.startswith(replaced):
                return True
            return not key.startswith(f"{generation}_") and written is not None and written < orphaned

        await self._delete_rows(partition, doomed)
        return True

    async def _rows(self, partition: str, generation: str) -> AsyncIterator[Any]:
        with self._errors(f"read checkpoint {partition!r}"):
            rows = self.client.query_entities(
                "PartitionKey eq @pk and RowKey gt @lo and RowKey lt @hi",
                parameters={"pk": partition, "lo": f"{generation}_", "hi": f"{generation}_~"},
            )
            async for row in rows:
                yield row

    async def _delete_rows(self, partition: str, doomed: Callable[[str, datetime | None], bool]) -> None:
        """Delete the chunk rows that are `doomed` by their RowKey and write time (never the head)."""
        with self._errors(f"delete the old rows of checkpoint {partition!r}"):
            rows = self.client.query_entities(
                "PartitionKey eq @pk and RowKey ne @head",
                parameters={"pk": partition, "head": _HEAD},
                select=["PartitionKey", "RowKey", "Timestamp"],
            )
            stale = [("delete", row) async for row in rows if doomed(row["RowKey"], row.metadata.get("timestamp"))]
            for batch in _batches(stale):
                try:
                    await self.client.submit_transaction(batch)
                except TableTransactionError as error:
                    if error_code(error) not in _GONE:
                        raise
                    # a concurrent save deleted some first, failing the whole transaction: delete the rest alone
                    for _, row in batch:
                        with contextlib.suppress(ResourceNotFoundError):
                            await self.client.delete_entity(row["PartitionKey"], row["RowKey"])


def _batches(operations: list[Any]) -> Iterator[list[Any]]:
    """Operations in transactions of at most 100 and about `TRANSACTION_BUDGET` bytes of JSON each."""
    batch: list[Any] = []
    size = 0
    for operation in operations:
        entity = operation[1]
        cost = 512 + sum(4 * (len(value) + 2) // 3 + 64 for value in entity.values() if isinstance(value, bytes))
        if batch and (len(batch) == MAX_OPERATIONS or size + cost > TRANSACTION_BUDGET):
            yield batch
            batch, size = [], 0
        batch.append(operation)
        size += cost
    if batch:
        yield batch
