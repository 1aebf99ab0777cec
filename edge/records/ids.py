"""UUIDv7 record ids (RFC 9562): time-ordered, unique forever.

Layout: 48 bits of Unix milliseconds, version 7, 12 bits of sub-millisecond fraction
(RFC 9562 section 6.2, method 3), the variant, 62 random bits. The generator never goes
backwards: ids made in the same instant, or after the clock stepped back, count up from the
last one, so ids sort in the order they were made.
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections.abc import Callable

_NS_PER_MS = 1_000_000
_UUID7_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def uuid7_from_parts(unix_ms: int, sub_ms: int, rand62: int) -> str:
    """Assemble a UUIDv7 string from its fields (values are masked to their widths)."""
    value = (unix_ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76
    value |= (sub_ms & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand62 & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def is_uuid7(text: str) -> bool:
    """True when `text` is a lower-case canonical UUID of version 7 and the RFC variant."""
    return bool(_UUID7_RE.match(text))


def uuid7_time_ms(text: str) -> int:
    """The Unix milliseconds stored in a UUIDv7."""
    return uuid.UUID(text).int >> 80


class Uuid7Generator:
    """Monotonic UUIDv7 source; thread-safe."""

    def __init__(self, random_bytes: Callable[[int], bytes] = os.urandom) -> None:
        self._random = random_bytes
        self._last = -1  # (unix_ms << 12 | sub_ms) of the last id
        self._lock = threading.Lock()

    def new(self, unix_ns: int) -> str:
        """A new id for the instant `unix_ns` (nanoseconds since the Unix epoch)."""
        ms, rem = divmod(max(unix_ns, 0), _NS_PER_MS)
        stamp = (ms << 12) | (rem * 4096 // _NS_PER_MS)
        with self._lock:
            # Same 1/4096 ms tick or a clock step back: count up so ids stay ordered.
            stamp = max(stamp, self._last + 1)
            self._last = stamp
        rand = int.from_bytes(self._random(8), "big")
        return uuid7_from_parts(stamp >> 12, stamp & 0xFFF, rand)
