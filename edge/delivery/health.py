"""Payloads of the unit's own MQTT messages: retained status (birth and Last Will) and health."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol


class QueueStats(Protocol):
    """The part of the outbox statistics that health reports."""

    @property
    def pending(self) -> int: ...
    @property
    def pending_violations(self) -> int: ...
    @property
    def oldest_pending_ns(self) -> int | None: ...


def _dumps(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def status_payload(state: str, birth: Mapping[str, Any] | None = None) -> bytes:
    """`{"state": "online"|"offline", ...}` for `{p}/status`; `birth` carries e.g. the software
    version and the signing key id (only in the online message)."""
    body: dict[str, Any] = dict(birth or {})
    body["state"] = state
    return _dumps(body)


def health_payload(
    stats: QueueStats,
    *,
    now_ns: int,
    connected: bool,
    published: int,
    delivered: int,
    warnings: tuple[str, ...],
    extra: Mapping[str, Any] | None = None,
) -> bytes:
    """Periodic `{p}/health`: queue depth, age of the oldest undelivered record, counters."""
    oldest = stats.oldest_pending_ns
    age_s = None if oldest is None else round(max(0, now_ns - oldest) / 1e9, 3)
    return _dumps(
        {
            **(extra or {}),
            "time_ns": now_ns,
            "connected": connected,
            "queue": {
                "pending": stats.pending,
                "pending_violations": stats.pending_violations,
                "oldest_pending_age_s": age_s,
            },
            "published": published,
            "delivered": delivered,
            "warnings": list(warnings),
        }
    )
