"""`TableKeyStore`: wrapped data keys and erasure records in Azure Table Storage (the `azure-tables` extra).

One partition per data subject holds everything about it, so creating its key and forgetting it are
each one entity group transaction:

| RowKey | columns |
|---|---|
| `head` | `Generation` (keys created so far), `Active` (the active generation, 0 for none), `Erasures` |
| `key-{generation:06d}` | `KeyId`, `Kek`, `WrappedKey` (binary; removed when destroyed), `CreatedAt`, `DestroyedAt` |
| `erasure-{n:06d}` | `Subject`, `KeyIds` (JSON list), `When`, `Who`, `Reason` |

The head row is written with its ETag, so two writers creating a subject's first key, or a creation
racing an erasure, never both win: the loser reads again and uses what the winner stored.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Self

from messagehandler.extras import requires_extra

with requires_extra("azure-tables", "the Table Storage key store", ("azure", "aiohttp")):
    from azure.core import MatchConditions
    from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential
    from azure.core.credentials_async import AsyncTokenCredential
    from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
    from azure.data.tables import UpdateMode
    from azure.data.tables.aio import TableClient

from messagehandler.azure_errors import azure_errors, error_code, error_status
from messagehandler.errors import ConfigurationError, ServiceError
from messagehandler.personal.errors import InvalidSubjectError
from messagehandler.personal.keys import ErasureRecord, StoredKey, check_subject, key_id, parse_key_id

Credential = AzureNamedKeyCredential | AzureSasCredential | AsyncTokenCredential

_HEAD = "head"
_KEY_PREFIX = "key-"
_ERASURE_PREFIX = "erasure-"
_RACE_ATTEMPTS = 8
_SECRET_PARTS = re.compile(r"(?i)(?:AccountKey|SharedAccessSignature|sig)=([^;&\s]+)")
_TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,62}$")


class _RacedError(Exception):
    """Another writer changed the subject's rows between our read and our write."""


class TableKeyStore:
    """Implements `DataKeyStore` on one table (created on first use unless `create_table=False`).

    Keep it apart from the event table, and give the identity that reads events no access to it
    when the two need not meet: the keys are wrapped, but the table is where erasure happens.
    """

    def __init__(
        self,
        endpoint: str,
        table_name: str = "PersonalDataKeys",
        credential: Credential | None = None,
        *,
        create_table: bool = True,
        **client_kwargs: Any,
    ) -> None:
        _check_table_name(table_name)
        try:
            client = TableClient(endpoint, table_name, credential=credential, **client_kwargs)
        except (ValueError, TypeError, AttributeError):
            raise ConfigurationError(
                f"cannot use the endpoint or credential given for key table {table_name!r}"
            ) from None
        secrets = (credential.named_key.key,) if isinstance(credential, AzureNamedKeyCredential) else ()
        if isinstance(credential, AzureSasCredential):
            secrets = (credential.signature,)
        self._setup(client, table_name, create_table, secrets)

    @classmethod
    def from_connection_string(
        cls, conn_str: str, table_name: str = "PersonalDataKeys", *, create_table: bool = True, **client_kwargs: Any
    ) -> Self:
        """A key store in the account of a storage connection string (which is never shown in errors)."""
        _check_table_name(table_name)
        try:
            client = TableClient.from_connection_string(conn_str, table_name, **client_kwargs)
        except (ValueError, TypeError, AttributeError, KeyError):
            raise ConfigurationError(
                f"the connection string for key table {table_name!r} is malformed (its value is not shown)"
            ) from None
        store = cls.__new__(cls)
        store._setup(client, table_name, create_table, (conn_str, *_SECRET_PARTS.findall(conn_str)))
        return store

    def _setup(self, client: TableClient, table_name: str, create_table: bool, secrets: tuple[str, ...]) -> None:
        self._client = client
        self._table_name = table_name
        self._create_table = create_table
        self._ready = False
        self._service = f"key table {table_name!r}"
        self._secrets = secrets

    def __repr__(self) -> str:
        return f"TableKeyStore(account={self._client.account_name!r}, table={self._table_name!r})"

    @property
    def table_client(self) -> TableClient:
        return self._client

    async def get(self, key_id: str) -> StoredKey | None:
        parsed = parse_key_id(key_id)
        if parsed is None:
            return None
        subject, generation = parsed
        try:
            check_subject(subject)
        except InvalidSubjectError:
            return None
        row = await self._get_row(subject, _key_row(generation), f"read data key {key_id!r}")
        return None if row is None else _stored_key(subject, row)

    async def active(self, subject: str) -> StoredKey | None:
        subject = check_subject(subject)
        head = await self._get_row(subject, _HEAD, f"read the key of subject {subject!r}")
        if head is None or not head.get("Active"):
            return None
        row = await self._get_row(subject, _key_row(int(head["Active"])), f"read the key of subject {subject!r}")
        return None if row is None else _stored_key(subject, row)

    async def create(self, subject: str, wrapped: bytes, kek_id: str) -> StoredKey:
        subject = check_subject(subject)
        action = f"create a data key for subject {subject!r}"
        for _ in range(_RACE_ATTEMPTS):
            head = await self._get_row(subject, _HEAD, action)
            if head is not None and head.get("Active"):
                existing = await self.active(subject)
                if existing is not None:
                    return existing
                continue
            generation = int(head["Generation"]) + 1 if head is not None else 1
            now = datetime.now(UTC)
            new_head = {
                "PartitionKey": subject,
                "RowKey": _HEAD,
                "Generation": generation,
                "Active": generation,
                "Erasures": int(head.get("Erasures", 0)) if head is not None else 0,
            }
            key_row = {
                "PartitionKey": subject,
                "RowKey": _key_row(generation),
                "KeyId": key_id(subject, generation),
                "Kek": kek_id,
                "WrappedKey": wrapped,
                "CreatedAt": now,
            }
            try:
                await self._submit([_head_operation(head, new_head), ("create", key_row)], action)
            except _RacedError:
                continue
            return StoredKey(subject, generation, wrapped, kek_id, now)
        raise ServiceError(f"{action} on {self._service} kept racing other writers; try again", service=self._service)

    async def destroy(self, subject: str, *, who: str | None = None, reason: str | None = None) -> ErasureRecord:
        subject = check_subject(subject)
        action = f"forget subject {subject!r}"
        for _ in range(_RACE_ATTEMPTS):
            head = await self._get_row(subject, _HEAD, action)
            rows = [row async for row in self._partition(subject, _KEY_PREFIX, action)]
            now = datetime.now(UTC)
            live = [row for row in rows if row.get("WrappedKey") is not None]
            erasures = int(head.get("Erasures", 0)) if head is not None else 0
            record = ErasureRecord(subject, tuple(str(row["KeyId"]) for row in live), now, who, reason)
            new_head = {
                "PartitionKey": subject,
                "RowKey": _HEAD,
                "Generation": int(head["Generation"]) if head is not None else 0,
                "Active": 0,
                "Erasures": erasures + 1,
            }
            operations: list[Any] = [_head_operation(head, new_head)]
            for row in live:
                destroyed = {name: value for name, value in row.items() if name != "WrappedKey"}
                destroyed["DestroyedAt"] = now
                options = {"mode": UpdateMode.REPLACE, "etag": row.metadata["etag"]}
                operations.append(("update", destroyed, {**options, "match_condition": MatchConditions.IfNotModified}))
            operations.append(("create", _erasure_row(record, erasures + 1)))
            try:
                await self._submit(operations, action)
            except _RacedError:
                continue
            return record
        raise ServiceError(f"{action} on {self._service} kept racing other writers; try again", service=self._service)

    async def erasures(self, subject: str | None = None) -> AsyncIterator[ErasureRecord]:
        await self._ensure_table()
        action = "read erasure records"
        if subject is not None:
            rows = self._partition(check_subject(subject), _ERASURE_PREFIX, action)
        else:
            rows = self._query(
                "RowKey ge @lo and RowKey lt @hi", {"lo": _ERASURE_PREFIX, "hi": _range_end(_ERASURE_PREFIX)}, action
            )
        async for row in rows:
            yield ErasureRecord(
                subject=str(row["Subject"]),
                key_ids=tuple(json.loads(row["KeyIds"])),
                when=row["When"],
                who=row.get("Who"),
                reason=row.get("Reason"),
            )

    async def close(self) -> None:
        await self._client.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _get_row(self, subject: str, row_key: str, action: str) -> Any:
        await self._ensure_table()
        with self._errors(action):
            try:
                return await self._client.get_entity(subject, row_key)
            except ResourceNotFoundError as error:
                if error_code(error) == "TableNotFound":
                    raise
                return None

    def _partition(self, subject: str, prefix: str, action: str) -> AsyncIterator[Any]:
        return self._query(
            "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi",
            {"pk": subject, "lo": prefix, "hi": _range_end(prefix)},
            action,
        )

    async def _query(self, query_filter: str, parameters: dict[str, Any], action: str) -> AsyncIterator[Any]:
        with self._errors(action):
            async for row in self._client.query_entities(query_filter, parameters=parameters):
                yield row

    async def _submit(self, operations: list[Any], action: str) -> None:
        """Raises `_RacedError` when a row we create exists or a row we update changed since we read it."""
        with self._errors(action):
            try:
                await self._client.submit_transaction(operations)
            except Exception as error:
                if error_status(error) in (409, 412) and error_code(error) != "TableNotFound":
                    raise _RacedError() from error
                raise

    async def _ensure_table(self) -> None:
        if self._ready:
            return
        if self._create_table:
            with self._errors("create the key table"), contextlib.suppress(ResourceExistsError):
                await self._client.create_table()
        self._ready = True

    def _errors(self, action: str) -> contextlib.AbstractContextManager[None]:
        return azure_errors(self._service, action=action, secrets=self._secrets)


def _head_operation(existing: Any, row: dict[str, Any]) -> Any:
    if existing is None:
        return ("create", row)
    options = {"mode": UpdateMode.REPLACE, "etag": existing.metadata["etag"]}
    return ("update", row, {**options, "match_condition": MatchConditions.IfNotModified})


def _key_row(generation: int) -> str:
    return f"{_KEY_PREFIX}{generation:06d}"


def _range_end(prefix: str) -> str:
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _erasure_row(record: ErasureRecord, number: int) -> dict[str, Any]:
    row: dict[str, Any] = {
        "PartitionKey": record.subject,
        "RowKey": f"{_ERASURE_PREFIX}{number:06d}",
        "Subject": record.subject,
        "KeyIds": json.dumps(list(record.key_ids)),
        "When": record.when,
    }
    if record.who is not None:
        row["Who"] = record.who
    if record.reason is not None:
        row["Reason"] = record.reason
    return row


def _stored_key(subject: str, row: Any) -> StoredKey:
    generation = int(str(row["RowKey"])[len(_KEY_PREFIX) :])
    wrapped = row.get("WrappedKey")
    return StoredKey(
        subject,
        generation,
        bytes(wrapped) if wrapped is not None else None,
        str(row["Kek"]),
        row["CreatedAt"],
        row.get("DestroyedAt"),
    )


def _check_table_name(table_name: object) -> None:
    if not isinstance(table_name, str) or not _TABLE_NAME.match(table_name):
        raise ConfigurationError(
            f"key table name {table_name!r} is not valid: 3 to 63 letters and digits, starting with a letter"
        )
