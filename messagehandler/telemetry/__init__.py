"""Telemetry: OpenTelemetry traces and metrics, and logs that correlate with them.

Everything goes through the global providers (`opentelemetry.trace.get_tracer_provider()` and
`opentelemetry.metrics.get_meter_provider()`): configure the OpenTelemetry SDK, or call
`azure.monitor.opentelemetry.configure_azure_monitor()`, and the library's spans and metrics appear
with no other call. Without the `otel` extra (`opentelemetry-api`), or with no provider configured,
instrumentation costs one check per operation. See docs/observability.md.
"""

from messagehandler.telemetry.logs import FIELDS, TraceContextFilter, log_fields
from messagehandler.telemetry.propagation import TraceContext, current_trace
from messagehandler.telemetry.providers import SCOPE

__all__ = ["FIELDS", "SCOPE", "TraceContext", "TraceContextFilter", "current_trace", "log_fields"]
