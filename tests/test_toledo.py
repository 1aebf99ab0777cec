"""Mettler-Toledo style continuous output: decoding, stability, checksum modes, resync."""

from __future__ import annotations

import pytest

from edge.wim.protocols.toledo import ToledoParser, checksum_byte, encode_frame

# A recorded-style frame: STX, SWA 0x23 (bits 0-2 = 3: one decimal), SWB 0x30 (gross, positive,
# in range, stable), SWC 0x20, weight "012345" -> 1234.5 kg, tare "000200" -> 20.0 kg, CR.
FRAME = bytes.fromhex("02233020") + b"012345" + b"000200" + b"\r"


def test_recorded_frame_decodes_with_its_decimal_point() -> None:
    p = ToledoParser(checksum=False)
    (r,) = p.feed(FRAME)
    assert (r.weight_kg, r.tare_kg) == (1234.5, 20.0)
    assert r.stable
    assert r.usable
    assert not r.net


@pytest.mark.parametrize(
    ("swa", "digits", "kg"),
    [(0x20, 123, 12300.0), (0x21, 123, 1230.0), (0x22, 123, 123.0), (0x24, 12345, 123.45)],
)
def test_decimal_point_codes(swa: int, digits: int, kg: float) -> None:
    (r,) = ToledoParser(checksum=False).feed(encode_frame(digits, swa=swa))
    assert r.weight_kg == kg


def test_status_bits_motion_negative_net_over_under() -> None:
    p = ToledoParser(checksum=False)
    moving, negative_net, over = p.feed(
        encode_frame(5000, swb=0x38) + encode_frame(70, swb=0x33) + encode_frame(999999, swb=0x34)
    )
    assert moving.motion and not moving.stable  # a weight in motion is never taken
    assert negative_net.weight_kg == -70.0 and negative_net.net and negative_net.stable
    assert over.over_under and over.stable and not over.usable


def test_checksum_auto_detected_and_bad_checksum_rejected() -> None:
    good = encode_frame(100, checksum=True)
    assert (sum(good) & 0x7F) == 0
    bad = bytearray(encode_frame(200, checksum=True))
    bad[-1] ^= 0x01
    p = ToledoParser()  # auto
    got = p.feed(good + bytes(bad) + encode_frame(300, checksum=True) + b"\x02")
    assert [r.weight_kg for r in got] == [100.0, 300.0]
    assert p.stats().checksum_errors == 1


def test_checksum_equal_to_stx_once_locked() -> None:
    # Weight 999999 with tare 7: the 7-bit sum is 126, so the checksum byte is 0x02 (= STX).
    assert checksum_byte(encode_frame(999999, 7)) == 0x02
    w = 999999
    p = ToledoParser()
    data = encode_frame(1, checksum=True) + encode_frame(w, 7, checksum=True)
    data += encode_frame(2, checksum=True) + b"\x02"
    assert [r.weight_kg for r in p.feed(data)] == [1.0, float(w), 2.0]


def test_no_checksum_stream_in_auto_mode_and_parity_bit_ignored() -> None:
    with_parity = bytes(b | 0x80 if bin(b).count("1") % 2 else b for b in encode_frame(42))
    p = ToledoParser()
    got = p.feed(encode_frame(41) + with_parity + encode_frame(43))
    assert [r.weight_kg for r in got] == [41.0, 42.0]  # 43 waits for the byte after its CR
    assert [r.weight_kg for r in p.feed(b"\x02")] == [43.0]


def test_garbage_and_broken_frames_are_skipped_and_counted() -> None:
    broken = bytearray(encode_frame(555))
    broken[7] = ord("x")  # not a digit
    p = ToledoParser(checksum=False)
    got = p.feed(b"\x00noise" + bytes(broken) + encode_frame(7) + encode_frame(8)[:9])
    assert [r.weight_kg for r in got] == [7.0]
    s = p.stats()
    assert s.format_errors == 1
    assert s.bytes_skipped >= len(b"\x00noise") + 1
    assert [r.weight_kg for r in p.feed(encode_frame(8)[9:])] == [8.0]


def test_leading_blanks_read_as_zeros() -> None:
    frame = bytes([0x02, 0x22, 0x30, 0x20]) + b"   150" + b"     0" + b"\r"
    (r,) = ToledoParser(checksum=False).feed(frame)
    assert (r.weight_kg, r.tare_kg) == (150.0, 0.0)
