"""MQTT topic names of one unit (records.md, "MQTT topics").

`{p}` is `{prefix}/{site}/{device}`; records go to `{p}/<type>`, their evidence images to
`{p}/evidence/<record id>/<name>`.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Record types with a topic of their own in the contract; any other type goes to `{p}/<type>` too.
RECORD_TYPES = ("vehicle", "violation", "road")


@dataclass(frozen=True)
class Topics:
    """Every topic the unit publishes to or subscribes to."""

    prefix: str
    site: str
    device: str

    @property
    def base(self) -> str:
        """`{prefix}/{site}/{device}`."""
        return f"{self.prefix}/{self.site}/{self.device}"

    @property
    def status(self) -> str:
        """Retained online/offline status (offline is the Last Will)."""
        return f"{self.base}/status"

    @property
    def health(self) -> str:
        """Periodic health messages."""
        return f"{self.base}/health"

    @property
    def keys(self) -> str:
        """Retained JWKS with the unit's public key(s)."""
        return f"{self.base}/keys"

    @property
    def ack(self) -> str:
        """Where the back office publishes the ids it has stored (end-to-end ack)."""
        return f"{self.base}/ack"

    def record(self, record_type: str) -> str:
        """Topic of a record of `record_type` (vehicle, violation, road, calibration, ...)."""
        if not record_type or any(c in record_type for c in "/#+"):
            raise ValueError(f"record type {record_type!r} cannot be a topic level")
        return f"{self.base}/{record_type}"

    def evidence(self, record_id: str, name: str) -> str:
        """Topic of one evidence file of a record."""
        if any(c in name for c in "/#+") or any(c in record_id for c in "/#+"):
            raise ValueError(f"evidence name {name!r} / id {record_id!r} cannot be a topic level")
        return f"{self.base}/evidence/{record_id}/{name}"
