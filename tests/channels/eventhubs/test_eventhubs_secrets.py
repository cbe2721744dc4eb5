"""Keys never show in the Event Hubs channel's repr or errors."""

from __future__ import annotations

import pytest
from azure.core.credentials import AzureNamedKeyCredential

from messagehandler.channels import ChannelError
from messagehandler.channels.errors import ChannelConfigurationError
from messagehandler.channels.streaming.eventhubs import EventHubChannel
from tests.channels.support import envelopes
from tests.support.amqp_broker import running_broker

KEY = "ZXZlbnQtaHViLWtleS10aGF0LW11c3Qtbm90LWxlYWs="


async def test_a_refused_token_fails_publish_without_naming_the_key() -> None:
    with running_broker(token_status=401) as broker:
        channel = EventHubChannel.from_connection_string(
            broker.connection_string(key=KEY), eventhub_name="telemetry", retry_total=0
        )
        try:
            assert KEY not in repr(channel)
            with pytest.raises(ChannelError) as raised:
                await channel.publish(envelopes("o-1", 1))
        finally:
            await channel.close()

    assert "telemetry" in str(raised.value)
    assert KEY not in str(raised.value)


def test_a_connection_string_without_a_hub_is_a_configuration_error_without_the_key() -> None:
    conn = f"Endpoint=sb://example.servicebus.windows.net/;SharedAccessKeyName=p;SharedAccessKey={KEY}"
    with pytest.raises(ChannelConfigurationError) as raised:
        EventHubChannel.from_connection_string(conn)

    assert KEY not in str(raised.value)


async def test_a_key_credential_stays_out_of_the_repr() -> None:
    channel = EventHubChannel("example.servicebus.windows.net", "telemetry", AzureNamedKeyCredential("p", KEY))
    try:
        assert KEY not in repr(channel)
        assert "example.servicebus.windows.net" in repr(channel)
    finally:
        await channel.close()
