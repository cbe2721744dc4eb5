"""Open/closed bookkeeping every adapter needs, so `close()` is idempotent and use after close is a clear error."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from messagehandler.channels.errors import ChannelClosedError


class Closeable:
    """Base of adapters: `close()` runs `_close()` once; `async with` closes on exit."""

    _closed: bool = False

    @property
    def name(self) -> str:
        raise NotImplementedError

    def _ensure_open(self) -> None:
        if self._closed:
            raise ChannelClosedError(self.name)

    async def _close(self) -> None:
        """Release connections; called once."""

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
