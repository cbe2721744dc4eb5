"""The tracer and meter of the global OpenTelemetry providers, or None while nobody configured one.

Instrumentation asks `tracer()` and `meter()` on every operation, so their answer must be cheap and
current: the SDK may be configured after this package was imported (`configure_azure_monitor()` at
application start-up), and a test may swap providers. Each call reads the API's global provider
(one attribute read) and compares it with the one it saw last; only a new provider costs a lookup.

With `opentelemetry-api` not installed, or installed with no provider set (the API's proxy), or with
a no-op provider, both return None: the callers then skip building spans, attribute dicts and
measurements altogether, which is what keeps instrumentation free for applications that do not use it.
"""

from __future__ import annotations

import importlib.metadata
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter
    from opentelemetry.trace import Tracer

SCOPE = "messagehandler"
"""The instrumentation scope of every span and instrument: the tracer's and the meter's name."""

try:
    from opentelemetry import metrics as _metrics
    from opentelemetry import trace as _trace
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.metrics import _internal as _metrics_state
    from opentelemetry.trace import NoOpTracerProvider
except ImportError:
    AVAILABLE = False
else:
    AVAILABLE = True

_TRACER_FROM_ENV = "OTEL_PYTHON_TRACER_PROVIDER" in os.environ
_METER_FROM_ENV = "OTEL_PYTHON_METER_PROVIDER" in os.environ


class _Cached:
    """The providers seen last and what they gave; slots keep the hot read cheap."""

    __slots__ = ("meter", "meter_provider", "tracer", "tracer_provider")

    def __init__(self) -> None:
        self.tracer_provider: Any = None
        self.tracer: Tracer | None = None
        self.meter_provider: Any = None
        self.meter: Meter | None = None


_cached = _Cached()

# tracer() and meter() are spelled out rather than sharing a helper: they run on every operation, and
# a shared one (a call and a lambda more) made them four times slower (0.24 us against 0.06 us).


def tracer() -> Tracer | None:
    """The tracer of the global tracer provider; None when tracing is not configured."""
    if not AVAILABLE:
        return None
    provider = _trace._TRACER_PROVIDER
    if provider is None:
        if not _TRACER_FROM_ENV:
            return None
        provider = _trace.get_tracer_provider()  # the API builds the provider the environment names
    if provider is not _cached.tracer_provider:
        _cached.tracer = None if isinstance(provider, NoOpTracerProvider) else provider.get_tracer(SCOPE, _version())
        _cached.tracer_provider = provider
    return _cached.tracer


def meter() -> Meter | None:
    """The meter of the global meter provider; None when metrics are not configured."""
    if not AVAILABLE:
        return None
    provider = _metrics_state._METER_PROVIDER
    if provider is None:
        if not _METER_FROM_ENV:
            return None
        provider = _metrics.get_meter_provider()
    if provider is not _cached.meter_provider:
        _cached.meter = None if isinstance(provider, NoOpMeterProvider) else provider.get_meter(SCOPE, _version())
        _cached.meter_provider = provider
    return _cached.meter


def _version() -> str | None:
    try:
        return importlib.metadata.version("messagehandler-azure")
    except importlib.metadata.PackageNotFoundError:
        return None


def enabled() -> bool:
    """Whether spans or measurements would be recorded: the guard of paths that prepare both."""
    return tracer() is not None or meter() is not None
