"""The worker: hosts an application's standing queries, durable read models and outbox relay as a service.

`messagehandler run myapp.processing:app` (or `messagehandler.worker.run(app)`) runs the `WorkerApp`
that module declares: processing hosts on every worker (competing consumers), leased work (read
models, the relay) on one worker at a time, elected with blob leases; probes over HTTP; a graceful
stop on SIGTERM. The health endpoint and blob leases need the `worker` extra.
"""

from messagehandler.worker.app import WorkerApp
from messagehandler.worker.context import WorkerContext
from messagehandler.worker.election import Election, LeaseTerm
from messagehandler.worker.errors import AppNotFoundError, LeaseLostError, ServiceFailedError, WorkerError
from messagehandler.worker.leases import BlobLeaseStore, Lease, LeaseStore, MemoryLeaseStore
from messagehandler.worker.runner import EXIT_CONFIGURATION, EXIT_FAILED, EXIT_OK, Worker, load_app, run

__all__ = [
    "EXIT_CONFIGURATION",
    "EXIT_FAILED",
    "EXIT_OK",
    "AppNotFoundError",
    "BlobLeaseStore",
    "Election",
    "Lease",
    "LeaseLostError",
    "LeaseStore",
    "LeaseTerm",
    "MemoryLeaseStore",
    "ServiceFailedError",
    "Worker",
    "WorkerApp",
    "WorkerContext",
    "WorkerError",
    "load_app",
    "run",
]
