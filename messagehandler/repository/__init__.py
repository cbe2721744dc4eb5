"""The aggregate repository (unit of work) and the retry helper for concurrency conflicts."""

from messagehandler.repository.repository import AggregateRepository, IdentityConflictError
from messagehandler.repository.retry import retry_on_conflict

__all__ = ["AggregateRepository", "IdentityConflictError", "retry_on_conflict"]
