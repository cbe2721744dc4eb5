"""Starting and watching a zero-downtime rebuild of a read model from outside the workers (the CLI).

`rebuild` builds the version of a `LiveReadModel` that the application's code declares, beside the
live one, under the same lease the workers use for that version (so it never runs twice at once),
and switches the alias when caught up. When a worker already holds that lease, the build is running
there and `rebuild` watches it instead. `watch` follows the alias document until the version is live.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from messagehandler.errors import ConfigurationError
from messagehandler.projections.errors import RetiredVersionError
from messagehandler.projections.live import LiveReadModel, Role, read_alias
from messagehandler.worker.app import WorkerApp
from messagehandler.worker.context import WorkerContext, default_worker_id
from messagehandler.worker.errors import WorkerError
from messagehandler.worker.services import ReadModelService

Report = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class RebuildOutcome:
    version: str
    replaced: str | None
    built_here: bool


async def open_live_model(
    app: WorkerApp, name: str, context: WorkerContext
) -> tuple[ReadModelService, LiveReadModel[Any]]:
    service = app.service(name)
    if not isinstance(service, ReadModelService):
        raise ConfigurationError(f"service {name!r} of app {app.name!r} is no read model")
    await service.prepare(context)
    if service.live is None:
        raise ConfigurationError(f"read model {name!r} is not a LiveReadModel: it has no versions to rebuild")
    return service, service.live


async def context_for(app: WorkerApp) -> WorkerContext:
    return await app.open_context(f"cli-{default_worker_id()}")


async def rebuild(app: WorkerApp, name: str, report: Report, *, poll: float = 1.0) -> RebuildOutcome:
    """Build and switch in the declared version of read model `name` (or watch the worker that does).

    Raises:
        WorkerError: the declared version was retired (a newer one replaced it, before or during the
            build): it is not built again or switched in.
        ConfigurationError: the app declares no such live read model.
    """
    context = await context_for(app)
    try:
        service, live = await open_live_model(app, name, context)
        role = await live.role()
        if role is Role.LIVE:
            report({"version": live.version, "state": "live"})
            return RebuildOutcome(live.version, None, built_here=False)
        if role is Role.RETIRED:
            raise WorkerError(f"read model {name!r}: version {live.version} was replaced by a newer one; not rebuilt")
        lease = context.leases.lease(service.lease_name, context.worker_id, service.duration)
        if not await lease.acquire():
            holder = await context.leases.holder(service.lease_name)
            report({"version": live.version, "state": f"building on {holder}"})
            await watch(app, name, report, poll=poll, context=context)
            return RebuildOutcome(live.version, None, built_here=False)
        try:
            replaced = await _build(live, report, lease)
        finally:
            await lease.release()
        return RebuildOutcome(live.version, replaced, built_here=True)
    finally:
        await context.aclose()


async def _build(live: LiveReadModel[Any], report: Report, lease: Any) -> str | None:
    opened = await live.open()
    changed = opened.changed
    while True:
        await lease.renew()
        await live.save(building=True)
        report(live.progress("catching up"))
        if not changed:
            break
        changed = await live.step()
    try:
        replaced = await live.switch()
    except RetiredVersionError as error:
        raise WorkerError(str(error)) from None
    report(live.progress("switched"))
    await live.close()
    return replaced


async def watch(
    app: WorkerApp, name: str, report: Report, *, poll: float = 1.0, context: WorkerContext | None = None
) -> None:
    """Report the alias's build progress until the version the app declares is live."""
    own = context is None
    context = context if context is not None else await context_for(app)
    try:
        _, live = await open_live_model(app, name, context)
        last: dict[str, Any] | None = None
        while True:
            alias = await read_alias(live.store, name)
            if alias.live == live.version:
                report({**(alias.building or {}), "version": live.version, "state": "live"})
                return
            if live.version in alias.retired:
                raise WorkerError(f"read model {name!r}: version {live.version} was retired")
            if alias.building != last and alias.building is not None:
                report(alias.building)
                last = alias.building
            await asyncio.sleep(poll)
    finally:
        if own:
            await context.aclose()
