"""Transactional channels: durable; each message consumed and settled on its own; at-least-once.

Adapters live in their own modules and need their extra (`storage-queue` for
`messagehandler.channels.transactional.storage_queue`, `servicebus` for
`messagehandler.channels.transactional.servicebus`); this package imports none of them.
"""
