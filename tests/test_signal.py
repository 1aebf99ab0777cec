"""Pulse detection (edge.wim.signal) and the board clock / time map (edge.wim.timebase)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from edge.wim.protocols.lcs1 import FLAG_CLOCK_RESTART
from edge.wim.signal import Pulse, PulseDetector
from edge.wim.timebase import BoardClock, TimeMap

RATE = 2000
LP = 0.75
BIG = np.array([1e9])


def trapezoid(n: int, start_s: float, w_kg: float, v: float, lt: float = 0.25) -> np.ndarray:
    """One wheel of load w_kg crossing a platform: the tyre front reaches it at start_s."""
    t = np.arange(n) / RATE
    front = v * (t - start_s)
    on = np.clip(np.minimum(front, LP) - np.maximum(front - lt, 0.0), 0.0, lt) / lt
    return w_kg * on


def detect(x: npt.NDArray[np.float64], block: int = 200) -> tuple[list[Pulse], PulseDetector]:
    det = PulseDetector(1, RATE, BIG, -BIG)
    out: list[Pulse] = []
    for i in range(0, len(x), block):
        out.extend(det.process(x[i : i + block, None], i))
    out.extend(det.flush())
    return out, det


@pytest.mark.parametrize(("w", "v"), [(3000.0, 5.0), (600.0, 22.0), (4500.0, 40.0)])
def test_pulse_area_gives_the_wheel_load(w: float, v: float) -> None:
    rng = np.random.default_rng(0)
    x = trapezoid(4000, 0.5, w, v) + rng.normal(0, 3.0, 4000)
    (p,), _ = detect(x)
    # area = W * Lp / v  =>  W = area * v / Lp (area in kg x samples)
    assert p.area / RATE * v / LP == pytest.approx(w, rel=0.01)
    assert p.width / RATE == pytest.approx(LP / v, rel=0.03)
    assert p.lead / RATE == pytest.approx(0.5, abs=0.002)


def test_result_does_not_depend_on_how_samples_are_chunked() -> None:
    rng = np.random.default_rng(1)
    x = trapezoid(6000, 0.7, 2000, 10.0) + trapezoid(6000, 1.9, 800, 10.0)
    x += rng.normal(0, 3.0, 6000)
    a, _ = detect(x, block=200)
    b, _ = detect(x, block=7)
    assert len(a) == 2
    assert [v for p in a for v in (p.rise, p.fall, p.area)] == pytest.approx(
        [v for p in b for v in (p.rise, p.fall, p.area)], rel=1e-3
    )


def test_zero_drift_is_tracked_and_loads_stay_right() -> None:
    n = 20 * RATE
    rng = np.random.default_rng(2)
    drift = np.linspace(0.0, 20.0, n)  # 20 kg in 20 s: far faster than temperature drifts
    x = drift + rng.normal(0, 3.0, n)
    starts = [2.0, 7.0, 12.0, 17.5]
    for s in starts:
        x += trapezoid(n, s, 1500.0, 15.0)
    pulses, det = detect(x)
    assert len(pulses) == len(starts)
    for p in pulses:
        assert p.area / RATE * 15.0 / LP == pytest.approx(1500.0, rel=0.02)
    assert det.baseline(0) == pytest.approx(20.0, abs=3.0)  # lags by drift rate x 2 s


def test_noise_alone_gives_no_pulse_and_thresholds_follow_noise() -> None:
    rng = np.random.default_rng(3)
    pulses, det = detect(rng.normal(0, 10.0, 40 * RATE))
    assert pulses == []
    on, off = det.thresholds(0)
    assert on >= 70.0 and off >= 35.0


def test_a_load_standing_too_long_becomes_the_zero() -> None:
    n = 8 * RATE
    x = np.zeros(n)
    x[RATE:] = 500.0  # something left on the platform at 1 s
    x += trapezoid(n, 6.5, 2000.0, 10.0)
    pulses, det = detect(x)
    assert det.stuck == 1
    # The wheel after the standing load is still weighed on top of the new zero.
    assert len(pulses) == 1
    assert pulses[0].area / RATE * 10.0 / LP == pytest.approx(2000.0, rel=0.02)


def test_a_zero_jumping_down_is_re_seated() -> None:
    n = 6 * RATE
    x = np.zeros(n)
    x[RATE:] = -300.0
    x += trapezoid(n, 4.0, 2000.0, 10.0)
    pulses, det = detect(x)
    assert det.baseline(0) == pytest.approx(-300.0, abs=1.0)
    assert len(pulses) == 1
    assert pulses[0].area / RATE * 10.0 / LP == pytest.approx(2000.0, rel=0.02)


def test_overrange_pulse_is_marked() -> None:
    det = PulseDetector(1, RATE, np.array([1800.0]), -BIG)
    x = np.minimum(trapezoid(4000, 0.5, 2500.0, 10.0), 1800.0)
    pulses = det.process(x[:, None], 0) + det.flush()
    assert len(pulses) == 1 and pulses[0].overrange


# -- board clock --------------------------------------------------------------------------------


def test_board_clock_unwraps_t_us_and_seq() -> None:
    clock = BoardClock()
    t = (1 << 32) - 25_000  # wraps after 2.5 frames of 10 ms
    idx = []
    for i in range(6):
        ft = clock.place((t + i * 10_000) & 0xFFFFFFFF, (65534 + i) & 0xFFFF, 20, RATE, 0)
        idx.append(ft.index)
        assert ft.lost_samples == 0 and not ft.restarted
    assert idx == [0, 20, 40, 60, 80, 100]


def test_board_clock_counts_lost_frames_and_restarts() -> None:
    clock = BoardClock()
    clock.place(1_000_000, 10, 20, RATE, 0)
    lost = clock.place(1_030_000, 13, 20, RATE, 0)  # frames 11 and 12 never arrived
    assert (lost.index, lost.lost_samples) == (60, 40)
    assert clock.lost_frames == 2
    again = clock.place(500, 14, 20, RATE, FLAG_CLOCK_RESTART)
    assert again.restarted and again.index == 80  # the sample line stays continuous
    nxt = clock.place(10_500, 15, 20, RATE, 0)
    assert nxt.index == 100 and clock.restarts == 1


def test_time_map_follows_offset_and_drift_under_jittery_latency() -> None:
    rng = np.random.default_rng(4)
    tm = TimeMap(RATE)
    offset_ns, ppm = 3.7e9, 80.0
    worst = 0.0
    for f in range(0, 5 * 60 * 100):  # 5 minutes of 10 ms frames
        last = f * 20 + 19
        true_ns = offset_ns + last * 1e9 / RATE * (1 + ppm * 1e-6)
        tm.observe(last, int(true_ns + rng.uniform(0.5e6, 3e6)))
        if f > 300 and f % 97 == 0:
            mid = last - 10
            want = offset_ns + mid * 1e9 / RATE * (1 + ppm * 1e-6)
            worst = max(worst, abs(tm.to_scenario_ns(mid) - want))
    # The latency is at least 0.5 ms; the envelope fit stays within ~1 ms of the truth
    # although 5 minutes at 80 ppm drift by 24 ms.
    assert worst < 1.2e6


def test_touching_pulses_of_close_axles_are_split() -> None:
    # Axles 1.0 m apart, footprint 0.35 m: the platform (0.75 m) never unloads between them.
    n, v = 4000, 15.0
    x = trapezoid(n, 0.5, 4000.0, v, lt=0.35) + trapezoid(n, 0.5 + 1.0 / v, 3000.0, v, lt=0.35)
    x += np.random.default_rng(6).normal(0, 3.0, n)
    pulses, _ = detect(x)
    assert len(pulses) == 2
    loads = [p.area / RATE * v / LP for p in pulses]
    assert loads == pytest.approx([4000.0, 3000.0], rel=0.05)
    assert sum(loads) == pytest.approx(7000.0, rel=0.01)
