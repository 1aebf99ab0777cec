"""Bench scenarios (specs/bench.md): folders of recorded serial and video input."""
