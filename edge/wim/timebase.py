"""The LCS1 board clock: unwrap it into a continuous sample index and map it to scenario time.

The board clock (`t_us`, 32-bit microseconds) is the timing truth for signal processing
(specs/serial.md section 1). Two pieces live here:

- `BoardClock` turns each frame's `t_us` (which wraps at 2^32 and may restart) into the index of
  the frame's first sample on one continuous sample line, and says how many samples were lost
  before the frame (seq gaps, or a t_us jump).
- `TimeMap` maps that sample line to scenario time (ns since t0, the host receive time line of
  SCAP1). A host receive time is the board time of the last received sample plus a latency that
  is never negative and jitters, so the offset is the *lower envelope* of (host - board): the
  minimum per window, with a straight-line fit over recent windows to follow clock drift.
  Per-frame host times are never used directly.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

import numpy as np

from edge.wim.protocols.lcs1 import FLAG_CLOCK_RESTART

log = logging.getLogger(__name__)

_WRAP_US = 1 << 32
_SEQ_MOD = 1 << 16


@dataclass(frozen=True)
class FrameTiming:
    """Where a frame sits on the continuous sample line."""

    index: int  # sample index of the frame's first sample
    lost_samples: int  # samples missing between the previous frame and this one
    restarted: bool  # the board clock restarted (or jumped back): the time map was reset


class BoardClock:
    """Unwrap LCS1 `t_us` into a continuous sample index (one index per sample period).

    Wraps of the 32-bit clock are undone; a restart (flag bit 1, or a clock that goes back) keeps
    the sample line continuous, assuming no samples were lost across the restart. A forward jump
    larger than `max_gap_s` is not filled: it is reported as lost samples all the same, and the
    caller decides what to do with a long outage.
    """

    def __init__(self) -> None:
        self._rate = 0
        self._last_us = 0  # unwrapped board time of the previous frame's first sample
        self._wrap_base = 0
        self._last_raw = 0
        self._last_seq = -1
        self._last_nsamp = 0
        self._next_index = 0
        self.restarts = 0
        self.lost_frames = 0

    @property
    def rate(self) -> int:
        """Samples per second per channel (0 before the first frame)."""
        return self._rate

    def place(self, t_us: int, seq: int, nsamp: int, rate: int, flags: int) -> FrameTiming:
        """Place one frame on the sample line; frames must be passed in arrival order."""
        if self._last_seq < 0 or rate != self._rate:
            return self._start(t_us, seq, nsamp, rate, restarted=self._last_seq >= 0)
        if flags & FLAG_CLOCK_RESTART:
            return self._start(t_us, seq, nsamp, rate, restarted=True)
        if t_us < self._last_raw:
            self._wrap_base += _WRAP_US
        unwrapped = self._wrap_base + t_us
        expected = self._last_us + self._last_nsamp * 1e6 / rate
        gap = round((unwrapped - expected) * rate / 1e6)
        if gap < 0:
            # The clock went back without the restart flag: treat it as a restart.
            return self._start(t_us, seq, nsamp, rate, restarted=True)
        seq_gap = (seq - self._last_seq - 1) % _SEQ_MOD
        if seq_gap:
            self.lost_frames += seq_gap
        index = self._next_index + gap
        self._advance(t_us, unwrapped, seq, nsamp, index)
        return FrameTiming(index=index, lost_samples=gap, restarted=False)

    def _start(self, t_us: int, seq: int, nsamp: int, rate: int, restarted: bool) -> FrameTiming:
        if restarted:
            self.restarts += 1
            log.info("board clock restarted at sample %d", self._next_index)
        self._rate = rate
        self._wrap_base = 0
        index = self._next_index
        self._advance(t_us, t_us, seq, nsamp, index)
        return FrameTiming(index=index, lost_samples=0, restarted=restarted)

    def _advance(self, raw: int, unwrapped: int, seq: int, nsamp: int, index: int) -> None:
        self._last_raw = raw
        self._last_us = unwrapped
        self._last_seq = seq
        self._last_nsamp = nsamp
        self._next_index = index + nsamp


class TimeMap:
    """Sample index -> scenario ns, from the lower envelope of (host receive ns - board ns).

    `observe(last_index, host_t_ns)` is called per frame with the index of the frame's last
    sample. Minima are kept per window of `window_s` of board time; the last `windows` minima are
    fitted with a straight line (offset and drift). Until two windows exist the running minimum
    is the offset.
    """

    def __init__(self, rate: int, window_s: float = 1.0, windows: int = 60) -> None:
        self.rate = rate
        self._window = max(1, round(window_s * rate))
        self._mins: deque[tuple[float, float]] = deque(maxlen=windows)
        self._cur_win = -1
        self._cur_min = np.inf
        self._cur_at = 0.0
        self._offset = 0.0
        self._slope = 0.0
        self._ref = 0.0
        self._have = False

    def board_ns(self, index: float) -> float:
        """Board time of a (fractional) sample index, ns on the continuous sample line."""
        return index * 1e9 / self.rate

    def observe(self, last_index: int, host_t_ns: int) -> None:
        """Account one frame: its last sample's index and the host receive time of its bytes."""
        b = self.board_ns(last_index)
        d = host_t_ns - b
        win = last_index // self._window
        if win != self._cur_win:
            if self._cur_win >= 0:
                self._mins.append((self._cur_at, self._cur_min))
                self._fit()
            self._cur_win = win
            self._cur_min = np.inf
        if d < self._cur_min:
            self._cur_min = d
            self._cur_at = b
        if not self._have or (len(self._mins) < 2 and d < self._offset):
            self._offset, self._slope, self._ref, self._have = d, 0.0, b, True

    def _fit(self) -> None:
        if len(self._mins) < 2:
            return
        pts = np.array(self._mins)
        x = pts[:, 0] - pts[-1, 0]
        y = pts[:, 1]
        slope, offset = np.polyfit(x, y, 1) if np.ptp(x) > 0 else (0.0, float(np.mean(y)))
        # Keep the line on the lower envelope: no window minimum may lie below it.
        offset -= max(0.0, float(np.max(offset + slope * x - y)))
        # Drift beyond 1000 ppm is not a clock, it is a fault: fall back to a flat offset.
        if abs(slope) > 1e-3:
            slope, offset = 0.0, float(np.min(y))
        self._offset, self._slope, self._ref = float(offset), float(slope), float(pts[-1, 0])

    def reset(self) -> None:
        """Forget the fit (after a board clock restart the offset is unknown again)."""
        self._mins.clear()
        self._cur_win = -1
        self._cur_min = np.inf
        self._have = False

    def to_scenario_ns(self, index: float) -> int:
        """Scenario time (ns since t0) of a fractional sample index."""
        b = self.board_ns(index)
        return round(b + self._offset + self._slope * (b - self._ref))
