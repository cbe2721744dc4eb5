"""`TenantTables`: the tenants an account holds, read from the names of its tables.

With a table per tenant (`tenant_tables(prefix)`), the account itself is the list of tenants: a
tenant exists once its table does, and no separate registry can drift from the data. The listing is
one range query over the table names starting with the prefix, so keep the prefix for tenant tables
only: any other table named `{prefix}` plus lowercase letters and digits would read as a tenant.
"""

from __future__ import annotations

from typing import Any, Self

from azure.data.tables.aio import TableServiceClient

from messagehandler.azure_errors import azure_errors
from messagehandler.errors import ConfigurationError
from messagehandler.eventsource.azure_tables.source import _SECRET_PARTS, Credential, _credential_secrets
from messagehandler.eventsource.tenants import TENANT_ID, tenant_tables


class TenantTables:
    """Implements `TenantDirectory`: the tenants whose `{prefix}{tenant}` tables exist in the account.

    Args:
        endpoint: the account's table endpoint.
        prefix: the prefix given to `tenant_tables`.
        credential: a key, SAS or token credential.
    """

    def __init__(self, endpoint: str, prefix: str, credential: Credential | None = None, **client_kwargs: Any) -> None:
        tenant_tables(prefix)  # the same prefix rules
        try:
            service = TableServiceClient(endpoint, credential=credential, **client_kwargs)
        except (ValueError, TypeError, AttributeError):
            raise ConfigurationError(
                "cannot use the endpoint or credential given to list tenant tables: expected an "
                "https://<account>.table.core.windows.net URL and a key, SAS or token credential"
            ) from None
        self._setup(service, prefix, _credential_secrets(credential))

    @classmethod
    def from_connection_string(cls, conn_str: str, prefix: str, **client_kwargs: Any) -> Self:
        """The tenant tables in the account of a storage connection string (which is never shown in errors)."""
        tenant_tables(prefix)
        try:
            service = TableServiceClient.from_connection_string(conn_str, **client_kwargs)
        except (ValueError, TypeError, AttributeError, KeyError):
            raise ConfigurationError(
                "the connection string for the tenant tables is malformed (its value is not shown)"
            ) from None
        directory = cls.__new__(cls)
        directory._setup(service, prefix, (conn_str, *_SECRET_PARTS.findall(conn_str)))
        return directory

    def _setup(self, service: TableServiceClient, prefix: str, secrets: tuple[str, ...]) -> None:
        self._service = service
        self.prefix = prefix
        self._secrets = secrets

    async def tenant_ids(self) -> list[str]:
        """The tenant ids, sorted, of the tables that exist now.

        Raises:
            AccessDeniedError: the credentials may not list tables.
            ServiceUnavailableError: the account could not be reached; retry later.
        """
        prefix = self.prefix
        after = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        found: list[str] = []
        with azure_errors(
            f"tables of account {self._service.account_name!r}", action="list tenant tables", secrets=self._secrets
        ):
            async for table in self._service.query_tables(
                "TableName ge @prefix and TableName lt @after", parameters={"prefix": prefix, "after": after}
            ):
                tenant = table.name[len(prefix) :]
                if table.name.startswith(prefix) and TENANT_ID.match(tenant):
                    found.append(tenant)
        return sorted(found)

    async def close(self) -> None:
        await self._service.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"TenantTables(account={self._service.account_name!r}, prefix={self.prefix!r})"
