"""Checkpoints in Azure Table Storage, for read models that restart on another machine.

A checkpoint may be far larger than one entity (1 MiB) or one transaction (4 MiB), so it is written
as a new generation of chunk rows followed by one `head` row naming that generation: replacing the
head is a single-entity write, so readers see the old checkpoint or the new one, never a mix. The
previous generation's rows are deleted afterwards; a crash in between leaves only garbage, which the
next write removes. Chunks are zlib-compressed and the head holds their SHA-256.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
import zlib
from typing import Any

from messagehandler.extras import requires_extra
from messagehandler.projections.checkpoints import check_name
from messagehandler.projections.errors import CorruptCheckpointError

with requires_extra("azure-tables", "the Table Storage checkpoint store", ("azure.data.tables",)):
    from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
    from azure.data.tables.aio import TableClient

CHUNK_BYTES = 32_000
"""Below the 64 KiB limit of a binary property, and within Azurite's own limits."""
CHUNKS_PER_ROW = 8
_HEAD = "head"


class TableCheckpointStore:
    """Implements `CheckpointStore` on one table; PartitionKey is the checkpoint name."""

    def __init__(self, client: TableClient, *, create_table: bool = True) -> None:
        self.client = client
        self._create_table = create_table
        self._ready = not create_table

    @classmethod
    def from_connection_string(cls, conn_str: str, table_name: str = "Checkpoints") -> TableCheckpointStore:
        return cls(TableClient.from_connection_string(conn_str, table_name))

    async def close(self) -> None:
        await self.client.close()

    async def __aenter__(self) -> TableCheckpointStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _ensure_table(self) -> None:
        if not self._ready:
            with contextlib.suppress(ResourceExistsError):
                await self.client.create_table()
            self._ready = True

    async def read(self, name: str) -> bytes | None:
        await self._ensure_table()
        try:
            head = await self.client.get_entity(check_name(name), _HEAD)
        except ResourceNotFoundError:
            return None
        rows = [row async for row in self._rows(name, str(head["Generation"]))]
        compressed = b"".join(row[f"D{i}"] for row in rows for i in range(CHUNKS_PER_ROW) if f"D{i}" in row)
        if len(rows) != head["Rows"] or hashlib.sha256(compressed).hexdigest() != head["Sha256"]:
            raise CorruptCheckpointError(f"checkpoint {name!r} in table {self.client.table_name!r} is incomplete")
        try:
            return zlib.decompress(compressed)
        except zlib.error as error:
            raise CorruptCheckpointError(f"checkpoint {name!r} cannot be decompressed: {error}") from None

    async def write(self, name: str, data: bytes) -> None:
        await self._ensure_table()
        partition = check_name(name)
        compressed = zlib.compress(data, 1)
        generation = uuid.uuid4().hex
        chunks = [compressed[i : i + CHUNK_BYTES] for i in range(0, len(compressed), CHUNK_BYTES)] or [b""]
        rows = [chunks[i : i + CHUNKS_PER_ROW] for i in range(0, len(chunks), CHUNKS_PER_ROW)]
        for index, row in enumerate(rows):
            entity: dict[str, Any] = {"PartitionKey": partition, "RowKey": f"{generation}_{index:06d}"}
            entity.update({f"D{i}": chunk for i, chunk in enumerate(row)})
            await self.client.upsert_entity(entity)
        head = {
            "PartitionKey": partition,
            "RowKey": _HEAD,
            "Generation": generation,
            "Rows": len(rows),
            "Sha256": hashlib.sha256(compressed).hexdigest(),
        }
        await self.client.upsert_entity(head)
        await self._delete_other_generations(partition, generation)

    async def _rows(self, partition: str, generation: str) -> Any:
        rows = self.client.query_entities(
            "PartitionKey eq @pk and RowKey gt @lo and RowKey lt @hi",
            parameters={"pk": partition, "lo": f"{generation}_", "hi": f"{generation}_~"},
        )
        async for row in rows:
            yield row

    async def _delete_other_generations(self, partition: str, keep: str) -> None:
        rows = self.client.query_entities(
            "PartitionKey eq @pk and RowKey ne @head", parameters={"pk": partition, "head": _HEAD}, select=["RowKey"]
        )
        stale = [row["RowKey"] async for row in rows if not row["RowKey"].startswith(f"{keep}_")]
        for row_key in stale:
            with contextlib.suppress(ResourceNotFoundError):
                await self.client.delete_entity(partition, row_key)
