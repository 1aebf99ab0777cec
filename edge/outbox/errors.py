"""Errors of the durable outbox."""

from __future__ import annotations

from edge.errors import EdgeError


class OutboxFullError(EdgeError):
    """A record could not be committed because the disk or the database is full.

    Nothing already stored is lost; the record that failed was not stored (RecordWriter keeps it
    in memory and retries). `held` says whether the RecordWriter kept the record for a retry.
    """

    def __init__(self, message: str, *, held: bool = False) -> None:
        super().__init__(message)
        self.held = held


class OutboxCorruptError(EdgeError):
    """The outbox database is damaged beyond what startup can salvage without reusing a seq."""
