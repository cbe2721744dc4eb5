"""Attribute names: OpenTelemetry's semantic conventions where one fits, `messagehandler.*` for the rest.

The convention names are spelled out here rather than imported from `opentelemetry-semantic-conventions`
(not a dependency of the `otel` extra); a test compares each with that package, so a renamed attribute
is noticed. Conventions followed: database client spans (`db.*`, stable since 1.26: `db.system.name`,
`db.collection.name`, `db.operation.name`), messaging spans and metrics (`messaging.*`, with
`messaging.operation.type` of `send`, `receive` and `process`), CloudEvents (`cloudevents.*`) and
`error.type` on failed operations.
"""

from __future__ import annotations

from typing import Final

DB_SYSTEM_NAME: Final = "db.system.name"
DB_NAMESPACE: Final = "db.namespace"
DB_COLLECTION_NAME: Final = "db.collection.name"
DB_OPERATION_NAME: Final = "db.operation.name"
DB_OPERATION_BATCH_SIZE: Final = "db.operation.batch.size"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"

MESSAGING_SYSTEM: Final = "messaging.system"
MESSAGING_DESTINATION_NAME: Final = "messaging.destination.name"
MESSAGING_OPERATION_TYPE: Final = "messaging.operation.type"
MESSAGING_OPERATION_NAME: Final = "messaging.operation.name"
MESSAGING_BATCH_MESSAGE_COUNT: Final = "messaging.batch.message_count"
MESSAGING_MESSAGE_ID: Final = "messaging.message.id"
MESSAGING_MESSAGE_CONVERSATION_ID: Final = "messaging.message.conversation_id"

CLOUDEVENTS_EVENT_ID: Final = "cloudevents.event_id"
CLOUDEVENTS_EVENT_SOURCE: Final = "cloudevents.event_source"
CLOUDEVENTS_EVENT_TYPE: Final = "cloudevents.event_type"
CLOUDEVENTS_EVENT_SUBJECT: Final = "cloudevents.event_subject"

STREAM_TYPE: Final = "messagehandler.stream.type"
STREAM_ID: Final = "messagehandler.stream.id"
STREAM_VERSION: Final = "messagehandler.stream.version"
"""On an append, the version the stream had before it (`expected_version`); on a relay, the last version relayed."""
EVENT_COUNT: Final = "messagehandler.event.count"
STREAM_COUNT: Final = "messagehandler.stream.count"
AGGREGATE_COUNT: Final = "messagehandler.aggregate.count"
QUERY_NAME: Final = "messagehandler.query.name"
RECORD_TYPE: Final = "messagehandler.record.type"
READ_MODEL: Final = "messagehandler.read_model"
OPERATION: Final = "messagehandler.operation"
DEAD_LETTER_REASON: Final = "messagehandler.dead_letter.reason"

MEMORY_SYSTEM: Final = "messagehandler.memory"
"""`db.system.name` of the in-memory event source (the conventions have no value for it)."""
TABLES_SYSTEM: Final = "azure.tables"
"""`db.system.name` of Azure Table Storage; the conventions list none, so this follows their `azure.*` naming."""
