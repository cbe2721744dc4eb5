"""The `messagehandler` operator command (install the `cli` extra): replicate, restore, events, stats."""
