"""FrameRing: frames around a moment in the past, eviction by time/count/bytes, thread safety."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.config import load_site
from edge.vision.frames import NS_PER_S, Frame, FrameRing

MS = 1_000_000


def frame(t_ms: int, index: int | None = None, camera: str = "cam", side: int = 2) -> Frame:
    """A tiny frame at `t_ms`; its pixels carry the index so a test can tell frames apart."""
    i = t_ms if index is None else index
    img = np.full((side, side, 3), i % 256, dtype=np.uint8)
    return Frame(camera=camera, index=i, t_ns=t_ms * MS, image=img)


def filled(times_ms: list[int], seconds: float = 60.0, max_frames: int = 1000) -> FrameRing:
    ring = FrameRing("cam", seconds, max_frames)
    for t in times_ms:
        ring.push(frame(t))
    return ring


def times_of(frames: list[Frame]) -> list[int]:
    return [f.t_ns // MS for f in frames]


def ms_of(f: Frame | None) -> int | None:
    return None if f is None else f.t_ns // MS


def test_around_returns_the_frames_in_the_window_oldest_first() -> None:
    ring = filled(list(range(0, 2000, 40)))  # 25 fps for 2 s
    # The scale says a vehicle crossed at 1.0 s; the plate reader wants 0.2 s before, 0.1 after.
    got = ring.around(1000 * MS, before_s=0.2, after_s=0.1)
    assert times_of(got) == [800, 840, 880, 920, 960, 1000, 1040, 1080]
    assert ring.around(5000 * MS, 0.5, 0.5) == []
    assert times_of(ring.around(-100 * MS, 0.0, 0.2)) == [0, 40, 80]


def test_nearest_picks_the_closest_frame_and_the_earlier_on_a_tie() -> None:
    assert FrameRing("cam", 4.0, 10).nearest(0) is None
    ring = filled([0, 40, 80])
    assert ms_of(ring.nearest(55 * MS)) == 40
    assert ms_of(ring.nearest(61 * MS)) == 80
    assert ms_of(ring.nearest(20 * MS)) == 0
    assert ms_of(ring.nearest(-5000 * MS)) == 0
    assert ms_of(ring.nearest(9000 * MS)) == 80
    latest = ring.latest()
    assert latest is not None and latest.t_ns == 80 * MS


def test_ring_keeps_only_the_last_seconds() -> None:
    ring = filled(list(range(0, 10_000, 100)), seconds=2.0)  # 10 fps for 10 s
    s = ring.stats()
    assert s.oldest_t_ns == 7_900 * MS and s.newest_t_ns == 9_900 * MS
    assert s.size == 21 and s.pushed == 100 and s.evicted == 79
    assert ring.around(5_000 * MS, 1.0, 1.0) == []  # the past beyond buffer_s is gone


def test_ring_is_bounded_by_frame_count_and_by_bytes() -> None:
    ring = filled(list(range(0, 1000, 10)), seconds=30.0, max_frames=5)
    assert times_of(ring.around(0, 0, 10.0)) == [950, 960, 970, 980, 990]
    big = FrameRing("cam", 30.0, 1000, max_bytes=3 * 100 * 100 * 3)  # three 100x100 frames
    for t in range(10):
        big.push(frame(t, side=100))
    s = big.stats()
    assert s.size == 3 and s.bytes == 3 * 30_000 and s.evicted == 7
    # A single frame larger than the budget is still kept: the newest frame always stays.
    tiny = FrameRing("cam", 30.0, 10, max_bytes=10)
    tiny.push(frame(1, side=100))
    assert len(tiny) == 1


def test_a_frame_older_than_the_newest_is_dropped_and_counted() -> None:
    ring = filled([0, 40, 80])
    ring.push(frame(60))
    ring.push(frame(80, index=999))  # same time as the newest: kept
    assert times_of(ring.around(0, 0, 1.0)) == [0, 40, 80, 80]
    s = ring.stats()
    assert s.dropped == 1 and s.pushed == 4


def test_ring_refuses_another_cameras_frame_and_bad_bounds() -> None:
    ring = FrameRing("lane1_front", 4.0, 100)
    with pytest.raises(ValueError, match="lane2_front"):
        ring.push(frame(0, camera="lane2_front"))
    with pytest.raises(ValueError):
        FrameRing("cam", 0.0, 10)
    with pytest.raises(ValueError):
        FrameRing("cam", 1.0, 0)


def test_frames_are_read_only_so_no_stage_can_draw_on_shared_pixels() -> None:
    f = frame(0)
    with pytest.raises(ValueError, match="read-only"):
        f.image[0, 0, 0] = 255
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        Frame("cam", 0, 0, np.zeros((4, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        Frame("cam", 0, 0, np.zeros((4, 4, 3), dtype=np.float32))


def test_ring_sized_from_the_reference_site_camera_keeps_buffer_s(
    reference_site_path: Path,
) -> None:
    site = load_site(reference_site_path)
    name, cam = next(iter(site.cameras.items()))
    ring = FrameRing.for_camera(name, cam.buffer_s, cam.fps)
    period_ms = round(1000 / cam.fps)
    for i in range(int(cam.buffer_s * cam.fps * 3)):
        ring.push(frame(i * period_ms, camera=name))
    s = ring.stats()
    assert s.newest_t_ns is not None and s.oldest_t_ns is not None
    kept_s = (s.newest_t_ns - s.oldest_t_ns) / NS_PER_S
    assert cam.buffer_s - 2 / cam.fps <= kept_s <= cam.buffer_s


def test_wait_until_wakes_when_the_frame_arrives_and_on_close() -> None:
    ring = filled([0])
    assert ring.wait_until(0, timeout_s=0.0)
    assert not ring.wait_until(100 * MS, timeout_s=0.05)  # nothing comes: times out

    result: list[bool] = []
    waiter = threading.Thread(target=lambda: result.append(ring.wait_until(400 * MS, 30.0)))
    waiter.start()
    for t in (100, 200, 300, 400):
        ring.push(frame(t))
    waiter.join(10.0)
    assert result == [True]

    # End of a replayed video: a waiter for a frame that will never come returns False at once.
    waiter = threading.Thread(target=lambda: result.append(ring.wait_until(9_000 * MS, 30.0)))
    waiter.start()
    ring.close()
    waiter.join(10.0)
    assert not waiter.is_alive() and result == [True, False]
    assert ring.closed


def test_concurrent_readers_see_consistent_ordered_windows() -> None:
    ring = FrameRing("cam", 1.0, 40)
    stop = threading.Event()
    errors: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            latest = ring.latest()
            if latest is None:
                continue
            got = ring.around(latest.t_ns, 0.5, 0.0)
            ts = [f.t_ns for f in got]
            if ts != sorted(ts) or any(latest.t_ns - t > NS_PER_S // 2 for t in ts):
                errors.append(f"bad window {ts}")
            s = ring.stats()
            if s.pushed != s.evicted + s.size or s.size > 40:
                errors.append(f"inconsistent stats {s}")

    readers = [threading.Thread(target=reader) for _ in range(3)]
    for r in readers:
        r.start()
    for i in range(3000):
        ring.push(frame(i * 10, index=i))
    stop.set()
    for r in readers:
        r.join(10.0)
    assert errors == []
    s = ring.stats()
    assert s.pushed == 3000 and s.size == 40 and s.newest_t_ns == 29_990 * MS


@settings(max_examples=60, deadline=None)
@given(
    gaps=st.lists(st.integers(min_value=0, max_value=300), min_size=1, max_size=80),
    seconds=st.floats(min_value=0.05, max_value=2.0),
    max_frames=st.integers(min_value=1, max_value=30),
)
def test_ring_holds_exactly_the_recent_frames_a_simple_model_predicts(
    gaps: list[int], seconds: float, max_frames: int
) -> None:
    ring = FrameRing("cam", seconds, max_frames)
    times: list[int] = []
    t = 0
    for g in gaps:
        t += g
        times.append(t)
        ring.push(frame(t, index=len(times)))
    span = int(seconds * NS_PER_S)
    expected = [x for x in times if times[-1] * MS - x * MS <= span][-max_frames:]
    assert times_of(ring.around(times[-1] * MS, 1000.0, 0.0)) == expected
    assert ring.stats().evicted == len(times) - len(expected)
