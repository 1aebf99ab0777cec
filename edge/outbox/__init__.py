"""The durable outbox: signed records wait here (SQLite, WAL, synchronous=FULL) until delivered.

Import the store from `edge.outbox.store`; this package init stays light.
"""

from edge.outbox.errors import OutboxCorruptError, OutboxFullError

__all__ = ["OutboxCorruptError", "OutboxFullError"]
