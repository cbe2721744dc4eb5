"""A small AMQP 1.0 broker on python-qpid-proton that answers what the Azure messaging SDKs need.

It stands in for Service Bus and Event Hubs at the protocol boundary: the real SDKs connect to it
over plain TCP (`UseDevelopmentEmulator=true`), authenticate with a CBS put-token, send (batched)
messages, and receive and settle them. Tests look at what arrived and at how it was settled.
"""

from tests.support.amqp_broker.broker import AmqpTestBroker, Delivered, Settlement, running_broker

__all__ = ["AmqpTestBroker", "Delivered", "Settlement", "running_broker"]
