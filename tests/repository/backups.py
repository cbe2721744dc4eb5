"""Restore a stream from an older backup on either event source: the events after a version vanish."""

from __future__ import annotations

from messagehandler import EventSource, InMemoryEventSource
from messagehandler.eventsource.azure_tables import AzureTableStorageEventSource
from messagehandler.eventsource.rows import row_key, stream_end


async def restore_older_backup(source: EventSource, stream_type: str, stream_id: str, version: int) -> None:
    """Leave the stream as it was at `version`, as a restore of the store from an older backup would."""
    if isinstance(source, InMemoryEventSource):
        streams = source._streams[stream_type]
        streams[stream_id] = streams[stream_id][:version]
        return
    assert isinstance(source, AzureTableStorageEventSource)
    table = source.table_client
    later = table.query_entities(
        "PartitionKey eq @p and RowKey gt @after and RowKey lt @end",
        parameters={"p": stream_type, "after": row_key(stream_id, version), "end": stream_end(stream_id)},
        select=["PartitionKey", "RowKey"],
    )
    async for row in later:
        await table.delete_entity(row["PartitionKey"], row["RowKey"])
