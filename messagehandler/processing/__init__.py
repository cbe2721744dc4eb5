"""Processing: standing queries (RxPY) over channels and the event store, run by a processing host.

Needs the `processing` extra (`reactivex`).
"""

from messagehandler.extras import requires_extra

with requires_extra("processing", "messagehandler.processing", ("reactivex",)):
    import reactivex  # noqa: F401 - fail here, naming the extra

    from messagehandler.processing.actions import Action, ProjectionAction
    from messagehandler.processing.completion import Outcome
    from messagehandler.processing.context import ActionableContext, ProcessingContext
    from messagehandler.processing.errors import CorruptPositionError, ProcessingError
    from messagehandler.processing.host import HostStats, ProcessingHost
    from messagehandler.processing.sources import (
        CatchUpReceiver,
        DocumentPositionStore,
        MemoryPositionStore,
        PositionStore,
        Source,
        channel_source,
        event_store_source,
    )
    from messagehandler.processing.standing_query import StandingQuery, held, transform

__all__ = [
    "Action",
    "ActionableContext",
    "CatchUpReceiver",
    "CorruptPositionError",
    "DocumentPositionStore",
    "HostStats",
    "MemoryPositionStore",
    "Outcome",
    "PositionStore",
    "ProcessingContext",
    "ProcessingError",
    "ProcessingHost",
    "ProjectionAction",
    "Source",
    "StandingQuery",
    "channel_source",
    "event_store_source",
    "held",
    "transform",
]
