"""Evidence files: written and fsynced before the record that names them is committed.

Layout used by every caller: `<out>/evidence/<record_id>/<name>`; the record lists each file as
`{"name", "sha256", "bytes", "media_type"}` (sha256 in lower-case hex).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.errors import EdgeError
from edge.fsutil import fsync_dir

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class EvidenceDiskFullError(EdgeError):
    """The evidence file could not be written because the disk is full; nothing was kept."""


@dataclass(frozen=True)
class EvidenceFile:
    """One evidence file as named in its record."""

    name: str
    path: Path
    sha256: str
    bytes: int
    media_type: str

    def as_record_entry(self) -> dict[str, Any]:
        """The record's `evidence` list entry (the path stays on the unit)."""
        return {
            "name": self.name,
            "sha256": self.sha256,
            "bytes": self.bytes,
            "media_type": self.media_type,
        }


def check_name(name: str) -> str:
    """An evidence name is one path component of safe characters (used in MQTT topics too)."""
    if not _NAME_RE.match(name) or name in {".", ".."}:
        raise ValueError(f"invalid evidence name {name!r}: letters, digits, '.', '_', '-'")
    return name


def write_evidence(directory: Path, name: str, data: bytes, media_type: str) -> EvidenceFile:
    """Write `directory/name` atomically and durably (temp file, fsync, rename, fsync dir).

    Callers pass directory = OUT/evidence/<record_id>. Raises EvidenceDiskFullError when the
    disk is full (the partial file is removed); other OSErrors propagate.
    """
    check_name(name)
    path = directory / name
    tmp = directory / f".{name}.tmp"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
        fsync_dir(directory)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno in _DISK_FULL:
            raise EvidenceDiskFullError(f"{path}: disk full writing evidence") from exc
        raise
    return EvidenceFile(name, path, hashlib.sha256(data).hexdigest(), len(data), media_type)


def file_sha256(path: Path) -> tuple[str, int]:
    """(hex SHA-256, size) of a file, read in blocks."""
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size
