"""Events of the samples: an organization's sensors report readings."""

from __future__ import annotations

from messagehandler import Event


class ReadingRecorded(Event, type_name="ReadingRecorded"):
    sensor: str
    value: float
