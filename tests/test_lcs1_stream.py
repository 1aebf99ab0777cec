"""LCS1 stream parser: spec vectors, resync after damage, counters, and random streams."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.wim.protocols.crc import crc16_ccitt_false
from edge.wim.protocols.lcs1 import FLAG_CLOCK_RESTART, FLAG_OVERRANGE, Lcs1Frame
from edge.wim.protocols.lcs1_stream import MAX_FRAME_LEN, Lcs1StreamParser

# specs/serial.md section 1 example: 2 channels, 2 samples, seq 7, t_us 1 000 000, 2000 Hz,
# samples (100, -2), (8388607, -8388607).
SPEC_FRAME = bytes.fromhex(
    "a55a"  # sync
    "01"  # version 1
    "02"  # nch 2
    "02"  # nsamp 2
    "00"  # flags
    "0700"  # seq 7
    "40420f00"  # t_us 1 000 000
    "d007"  # rate 2000
    "640000"  # s0c0 = 100
    "feffff"  # s0c1 = -2
    "ffff7f"  # s1c0 = 8388607 (full scale)
    "010080"  # s1c1 = -8388607
    "6a3c"  # CRC-16/CCITT-FALSE over version .. data
)


def frame(seq: int, nch: int = 2, nsamp: int = 3, flags: int = 0, fill: int = 0) -> Lcs1Frame:
    """A frame whose samples encode its seq, so a mix-up would show."""
    samples = (np.arange(nsamp * nch, dtype=np.int32).reshape(nsamp, nch) * 1000) + seq + fill
    return Lcs1Frame(seq=seq, t_us=seq * 1500, rate=2000, samples=samples, flags=flags)


def same(a: Lcs1Frame, b: Lcs1Frame) -> bool:
    return (a.seq, a.t_us, a.rate, a.flags) == (b.seq, b.t_us, b.rate, b.flags) and bool(
        np.array_equal(a.samples, b.samples)
    )


def key(f: Lcs1Frame) -> tuple[int, int, int, int, bytes]:
    return (f.seq, f.t_us, f.rate, f.flags, f.samples.tobytes())


def test_crc_check_value_and_spec_example_frame() -> None:
    assert crc16_ccitt_false(b"123456789") == 0x29B1
    p = Lcs1StreamParser()
    (f,) = p.feed(SPEC_FRAME)
    assert (f.seq, f.t_us, f.rate, f.nch, f.nsamp) == (7, 1_000_000, 2000, 2, 2)
    assert f.samples.tolist() == [[100, -2], [8388607, -8388607]]
    assert f.to_bytes() == SPEC_FRAME
    assert p.stats().frames == 1
    assert p.stats().bytes_skipped == 0


def test_one_byte_at_a_time_gives_the_same_frames() -> None:
    sent = [frame(i, nch=8, nsamp=20) for i in range(5)]
    stream = b"".join(f.to_bytes() for f in sent)
    p = Lcs1StreamParser()
    got = [f for i in range(len(stream)) for f in p.feed(stream[i : i + 1])]
    assert [key(f) for f in got] == [key(f) for f in sent]
    assert p.stats().buffered == 0


def test_bad_crc_drops_only_that_frame_and_counts_it() -> None:
    a, b, c = (frame(i).to_bytes() for i in (10, 11, 12))
    damaged = bytearray(b)
    damaged[20] ^= 0x40  # one sample byte flipped in transit
    p = Lcs1StreamParser()
    got = p.feed(a + bytes(damaged) + c)
    assert [f.seq for f in got] == [10, 12]
    s = p.stats()
    assert s.crc_errors == 1
    assert s.lost_frames == 1
    assert s.resyncs == 1
    assert s.bytes_skipped == len(b)
    assert s.frame_bytes + s.bytes_skipped + s.buffered == s.bytes


def test_frame_hidden_inside_a_damaged_length_field_is_found() -> None:
    # The header of frame 1 is damaged so it claims 100 samples: the parser must not swallow
    # frame 2 as part of it, since it drops ONE byte after the failed CRC.
    f1 = bytearray(frame(1).to_bytes())
    f1[4] = 100
    f2 = frame(2).to_bytes()
    tail = frame(3, nch=32, nsamp=100).to_bytes()  # enough bytes for the bogus length
    p = Lcs1StreamParser()
    got = p.feed(bytes(f1) + f2 + tail)
    assert [f.seq for f in got] == [2, 3]
    assert p.stats().crc_errors == 1


def test_flush_recovers_frames_behind_a_bogus_length_at_end_of_capture() -> None:
    f1 = bytearray(frame(1).to_bytes())
    f1[3] = 32  # claims 32 channels: more bytes than the capture has left
    p = Lcs1StreamParser()
    assert p.feed(bytes(f1) + frame(2).to_bytes()) == []
    assert [f.seq for f in p.flush()] == [2]
    s = p.stats()
    assert s.buffered == 0
    assert s.frame_bytes + s.bytes_skipped == s.bytes


def test_impossible_header_is_skipped() -> None:
    fake = bytes.fromhex("a55a02")  # version 2 does not exist
    fake2 = bytes.fromhex("a55a01000100") + bytes(8)  # nch 0
    fake3 = bytes.fromhex("a55a010101") + b"\x80" + bytes(8)  # undefined flag bit 7
    p = Lcs1StreamParser()
    got = p.feed(fake + fake2 + fake3 + frame(5).to_bytes())
    assert [f.seq for f in got] == [5]
    assert p.stats().header_errors == 3
    assert p.stats().crc_errors == 0


def test_seq_gaps_across_the_wrap_are_counted() -> None:
    p = Lcs1StreamParser()
    p.feed(b"".join(frame(s).to_bytes() for s in (65533, 65534, 65535, 0, 1)))
    assert p.stats().lost_frames == 0
    p.feed(frame(4).to_bytes())  # 2 and 3 missing
    assert p.stats().lost_frames == 2
    p2 = Lcs1StreamParser()
    p2.feed(frame(65534).to_bytes() + frame(1).to_bytes())  # 65535 and 0 missing
    assert p2.stats().lost_frames == 2


def test_flags_are_counted_and_a_board_restart_is_not_a_loss() -> None:
    p = Lcs1StreamParser()
    p.feed(frame(100).to_bytes())
    p.feed(frame(101, flags=FLAG_OVERRANGE).to_bytes())
    p.feed(frame(0, flags=FLAG_CLOCK_RESTART).to_bytes())  # the board rebooted
    p.feed(frame(1).to_bytes())
    s = p.stats()
    assert (s.overrange, s.clock_restarts, s.lost_frames, s.frames) == (1, 1, 0, 4)


def test_reset_after_reopen_forgets_the_seq() -> None:
    p = Lcs1StreamParser()
    p.feed(frame(10).to_bytes() + frame(11).to_bytes()[:7])
    p.reset()  # the port was lost and reopened
    p.feed(frame(500).to_bytes())
    s = p.stats()
    assert s.lost_frames == 0
    assert s.bytes_skipped == 7
    assert s.frames == 2


def test_buffer_stays_capped_under_garbage() -> None:
    p = Lcs1StreamParser()
    rng = np.random.default_rng(1)
    noise = rng.integers(0, 256, 200_000, dtype=np.uint8).tobytes()
    for i in range(0, len(noise), 4096):
        p.feed(noise[i : i + 4096])
        assert p.stats().buffered <= MAX_FRAME_LEN
    got = p.feed(frame(9).to_bytes())
    assert [f.seq for f in got][-1:] == [9]


# --- random streams -------------------------------------------------------------------------

shapes = st.tuples(st.integers(1, 4), st.integers(1, 5))


@st.composite
def streams(draw: st.DrawFn) -> tuple[list[Lcs1Frame], list[bytes]]:
    n = draw(st.integers(1, 12))
    start = draw(st.integers(0, 65535))
    sent = []
    for i in range(n):
        nch, nsamp = draw(shapes)
        flags = draw(st.sampled_from([0, 0, 0, FLAG_OVERRANGE]))
        sent.append(frame((start + i) & 0xFFFF, nch, nsamp, flags, fill=draw(st.integers(-5, 5))))
    return sent, [f.to_bytes() for f in sent]


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


@settings(max_examples=150, deadline=None)
@given(streams(), st.lists(st.integers(0, 10_000), max_size=20))
def test_random_splits_give_identical_frames(
    stream: tuple[list[Lcs1Frame], list[bytes]], cuts: list[int]
) -> None:
    sent, encoded = stream
    p = Lcs1StreamParser()
    got = [f for chunk in split(b"".join(encoded), cuts) for f in p.feed(chunk)]
    assert [key(f) for f in got] == [key(f) for f in sent]
    s = p.stats()
    assert (s.crc_errors, s.header_errors, s.bytes_skipped, s.lost_frames) == (0, 0, 0, 0)
    assert s.overrange == sum(1 for f in sent if f.flags & FLAG_OVERRANGE)


# Garbage that looks like the start of frames is the hard case, so it is over-represented.
garbage = st.one_of(
    st.binary(max_size=30),
    st.builds(lambda tail: b"\xa5\x5a" + tail, st.binary(max_size=20)),
    st.builds(lambda tail: b"\xa5\x5a\x01" + tail, st.binary(max_size=20)),
    # a plausible header whose frame never completes (or fails its CRC)
    st.builds(
        lambda nch, nsamp, rest: b"\xa5\x5a\x01" + bytes([nch, nsamp, 0]) + rest,
        st.integers(1, 4),
        st.integers(1, 5),
        st.binary(min_size=8, max_size=40),
    ),
)


# Damaged or garbage bytes pass CRC-16 by chance once in 65,536 tries, and no parser can tell
# such a span from a sent frame: random runs met one in the long run (session 14, four flipped
# bytes). The examples are therefore drawn the same way on every run.
@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    streams(),
    st.lists(garbage, max_size=13),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), max_size=4),
    st.lists(st.integers(0, 10_000), max_size=10),
)
def test_garbage_and_corruption_never_fabricate_and_never_lose_intact_frames(
    stream: tuple[list[Lcs1Frame], list[bytes]],
    junk: list[bytes],
    flips: list[tuple[int, int]],
    cuts: list[int],
) -> None:
    sent, encoded = stream
    data = bytearray()
    spans = []
    for i, enc in enumerate(encoded):
        if i < len(junk):
            data += junk[i]
        spans.append((len(data), len(data) + len(enc)))
        data += enc
    damaged = set()
    for pos, xor in flips:
        data[pos % len(data)] ^= xor
        damaged.add(pos % len(data))
    intact = [
        f for f, (a, b) in zip(sent, spans, strict=True) if not any(a <= d < b for d in damaged)
    ]

    p = Lcs1StreamParser()
    got = [f for chunk in split(bytes(data), cuts) for f in p.feed(chunk)]
    got += p.flush()

    sent_keys = {key(f) for f in sent}
    assert all(key(f) in sent_keys for f in got), "a frame that was never sent came out"
    got_keys = [key(f) for f in got]
    assert all(key(f) in got_keys for f in intact), "an intact frame was lost"
    s = p.stats()
    assert s.frames == len(got)
    assert s.bytes == len(data)
    assert s.buffered == 0
    assert s.frame_bytes + s.bytes_skipped == s.bytes
    if len(got) < len(sent):
        assert s.resyncs >= 1
    if len(got) >= 2:
        seqs = [f.seq for f in got]
        span = (seqs[-1] - seqs[0]) & 0xFFFF
        assert s.lost_frames == span + 1 - len(got)


def test_full_scale_extremes_survive_the_stream() -> None:
    samples = np.array([[8_388_607, -8_388_608, -1, 0]], dtype=np.int32)
    sent = Lcs1Frame(seq=1, t_us=2**32 - 1, rate=5000, samples=samples, flags=FLAG_OVERRANGE)
    (got,) = Lcs1StreamParser().feed(sent.to_bytes())
    assert same(got, sent)
    assert got.samples.dtype == np.int32
