"""The aggregate repository (unit of work), its access strategies, and the retry helper for concurrency conflicts."""

from messagehandler.repository.access import AccessStrategy, FullReplay
from messagehandler.repository.cached import Cached
from messagehandler.repository.repository import AggregateRepository, IdentityConflictError
from messagehandler.repository.retry import retry_on_conflict
from messagehandler.repository.snapshots import Snapshots

__all__ = [
    "AccessStrategy",
    "AggregateRepository",
    "Cached",
    "FullReplay",
    "IdentityConflictError",
    "Snapshots",
    "retry_on_conflict",
]
