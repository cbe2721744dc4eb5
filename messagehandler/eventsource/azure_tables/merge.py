"""Interleave several async iterators that run concurrently, e.g. one per shard."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeVar, cast

T = TypeVar("T")

_DONE = object()


async def merge(sources: list[AsyncIterator[T]], *, buffer: int = 4) -> AsyncIterator[T]:
    """Items of every source as they come; a failing source fails the merge and stops the others.

    The bounded queue keeps memory at a few items per source however fast the producers are.
    """
    if len(sources) == 1:
        async for only in sources[0]:
            yield only
        return
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=buffer * len(sources))

    async def pump(source: AsyncIterator[T]) -> None:
        try:
            async for item in source:
                await queue.put(item)
        except Exception as error:
            await queue.put(_Failure(error))
        else:
            await queue.put(_DONE)
        finally:
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                await aclose()

    tasks = [asyncio.create_task(pump(source)) for source in sources]
    running = len(tasks)
    try:
        while running:
            received = await queue.get()
            if received is _DONE:
                running -= 1
            elif isinstance(received, _Failure):
                raise received.error
            else:
                yield cast(T, received)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error
