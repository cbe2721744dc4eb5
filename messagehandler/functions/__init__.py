"""Azure Functions adapters (Python v2 programming model): standing queries and projection actions in a
Queue, Service Bus or Event Hubs triggered function, by the worker's rules, and a timer-triggered relay.

Needs the `functions` extra (`azure-functions`).
"""

from messagehandler.extras import requires_extra

with requires_extra("functions", "the Azure Functions adapters", ("azure.functions",)):
    from messagehandler.functions.poison import storage_poison_queue
    from messagehandler.functions.processor import FunctionProcessor, RetryMessageError, relay_on_timer

__all__ = ["FunctionProcessor", "RetryMessageError", "relay_on_timer", "storage_poison_queue"]
