"""Projections: read models built from events, restored from the store, kept durable by checkpoints.

A `Projection[Record]` declares typed `project(record, event)` handlers; a `Projector` restores
records from an event source (all streams of a type, one stream, or with a factory) and applies
single events in real time with `invoke`. A `DurableReadModel` keeps restored records in a
checkpoint and catches up with only the newer events on the next start. After an erasure,
`Projector.reproject_into` and `DurableReadModel.reproject` purge the subject's values from read models.
"""

from messagehandler.projections.checkpoints import CheckpointStore, FileCheckpointStore
from messagehandler.projections.durable import DurableReadModel, Opened, Start
from messagehandler.projections.erasure import Reprojected, streams_sealed_with
from messagehandler.projections.errors import (
    CheckpointError,
    CheckpointFileError,
    CorruptCheckpointError,
    NonDeterministicProjectionError,
    NoProjectionError,
    ProjectionError,
    RecordFactoryError,
)
from messagehandler.projections.projection import Projection, projects
from messagehandler.projections.projector import Projector
from messagehandler.projections.replay import RecordDifference, ReplayReport, verify_replay
from messagehandler.projections.version import read_model_version

__all__ = [
    "CheckpointError",
    "CheckpointFileError",
    "CheckpointStore",
    "CorruptCheckpointError",
    "DurableReadModel",
    "FileCheckpointStore",
    "NoProjectionError",
    "NonDeterministicProjectionError",
    "Opened",
    "Projection",
    "ProjectionError",
    "Projector",
    "RecordDifference",
    "RecordFactoryError",
    "ReplayReport",
    "Reprojected",
    "Start",
    "projects",
    "read_model_version",
    "streams_sealed_with",
    "verify_replay",
]
