"""Wire formats of the weighing hardware (specs/serial.md), all sans-IO: bytes in, values out.

- lcs1 / lcs1_stream: raw load-cell sample frames of the reference ADC board.
- wvr1: one ASCII line per vehicle from a WIM controller.
- toledo: Mettler-Toledo style continuous output of a weighing indicator.
"""
