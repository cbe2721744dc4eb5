"""Streaming channels: durable, partitioned, consumed in batches by moving a cursor.

`messagehandler.channels.streaming.eventhubs` needs the `eventhubs` extra; this package imports
nothing of it.
"""
