"""Blocking use for code without an event loop: one long-lived source serving many requests."""

from messagehandler.sync.loop_thread import InEventLoopError, LoopThread
from messagehandler.sync.store import SyncEventStore, SyncRepository

__all__ = ["InEventLoopError", "LoopThread", "SyncEventStore", "SyncRepository"]
