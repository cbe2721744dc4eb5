"""Aggregates: `EventSourced` and the discovery of its apply handlers."""

from messagehandler.domain.aggregate import EventSourced
from messagehandler.domain.handlers import applies

__all__ = ["EventSourced", "applies"]
