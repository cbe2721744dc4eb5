"""Organization streams for tests that read them back as the sample's events (CLI, cache, positions)."""

from __future__ import annotations

import functools

from messagehandler.testing import streams
from samples.organization import OrganizationRegistered, OrganizationRenamed

ORG = "Organization"

history = functools.partial(
    streams.history, stream_type=ORG, opened=OrganizationRegistered, renamed=OrganizationRenamed
)
strictly_later_commit = functools.partial(streams.strictly_later_commit, make_history=history)

__all__ = ["ORG", "history", "strictly_later_commit"]
