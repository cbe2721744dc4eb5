"""Errors of the worker: loading an application, holding leases, running its services.

MessageHandlerError
└── WorkerError                        the worker cannot run the application as declared
    ├── AppNotFoundError               also a ConfigurationError: `module:attribute` names nothing usable
    ├── LeaseLostError                 the lease ran out or was taken: the leased work stopped
    └── ServiceFailedError             a service of the application stopped with an error
"""

from __future__ import annotations

from messagehandler.errors import ConfigurationError, MessageHandlerError, Remedy


class WorkerError(MessageHandlerError):
    """The worker cannot run the application as declared."""

    remedy = Remedy.INSPECT


class AppNotFoundError(WorkerError, ConfigurationError):
    """`messagehandler run MODULE:ATTRIBUTE` names a module or attribute that cannot be imported or is no app."""

    remedy = Remedy.FIX_CONFIGURATION


class LeaseLostError(WorkerError):
    """A lease could not be renewed in time, or another worker holds it now; its work stops at once.

    Nothing is lost: the next holder starts from the last checkpoint this holder saved.
    """

    remedy = Remedy.RETRY_LATER

    def __init__(self, lease: str, reason: str) -> None:
        self.lease = lease
        super().__init__(f"lease {lease!r} lost: {reason}")


class ServiceFailedError(WorkerError):
    """A service of the application stopped with an error; the worker stops with exit code 1."""

    def __init__(self, service: str, error: BaseException) -> None:
        self.service = service
        super().__init__(f"service {service!r} failed: {type(error).__name__}: {error}")
