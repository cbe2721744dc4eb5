"""Keys and SAS tokens never show in a channel's repr or in the errors it raises."""

from __future__ import annotations

import pytest
from azure.core.credentials import AzureNamedKeyCredential

from messagehandler.channels import ChannelError
from messagehandler.channels.errors import ChannelConfigurationError
from messagehandler.channels.transactional.servicebus import ServiceBusChannel
from tests.channels.support import envelopes
from tests.support.amqp_broker import running_broker

KEY = "c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LWxlYWs="


async def test_a_refused_token_fails_publish_without_naming_the_key() -> None:
    with running_broker(token_status=401) as broker:
        channel = ServiceBusChannel.from_connection_string(
            broker.connection_string(key=KEY), queue_name="orders", retry_total=0
        )
        try:
            assert KEY not in repr(channel)
            with pytest.raises(ChannelError) as raised:
                await channel.publish(envelopes("o-1", 1))
        finally:
            await channel.close()

    message = str(raised.value)
    assert "orders" in message
    assert KEY not in message
    assert "sig=" not in message.replace("sig=***", "")


def test_a_malformed_connection_string_is_a_configuration_error_without_the_key() -> None:
    with pytest.raises(ChannelConfigurationError) as raised:
        ServiceBusChannel.from_connection_string(f"SharedAccessKey={KEY};EntityPath=orders")

    assert KEY not in str(raised.value)


def test_a_missing_entity_is_a_configuration_error() -> None:
    conn = f"Endpoint=sb://example.servicebus.windows.net/;SharedAccessKeyName=p;SharedAccessKey={KEY}"
    with pytest.raises(ChannelConfigurationError, match="queue or topic") as raised:
        ServiceBusChannel.from_connection_string(conn)

    assert KEY not in str(raised.value)


async def test_a_key_credential_stays_out_of_the_repr() -> None:
    channel = ServiceBusChannel(
        "example.servicebus.windows.net", "orders", AzureNamedKeyCredential("policy", KEY), name="orders-out"
    )
    try:
        assert KEY not in repr(channel)
        assert "orders-out" in repr(channel)
    finally:
        await channel.close()
