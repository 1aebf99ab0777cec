"""CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, xorout 0), as LCS1 uses."""

from __future__ import annotations

import binascii


def crc16_ccitt_false(data: bytes | bytearray | memoryview, crc: int = 0xFFFF) -> int:
    """CRC of `data`; check value crc16_ccitt_false(b"123456789") == 0x29B1.

    binascii.crc_hqx is exactly this CRC (poly 0x1021, MSB first, caller-chosen init) in C:
    about 100x faster than a Python table loop, which matters at 10 MB per 3.5-minute capture.
    """
    return binascii.crc_hqx(data, crc)
