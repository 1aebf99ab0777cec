"""Several frames of one vehicle voted into one plate reading."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from edge.vision.plates.formats import region as get_region
from edge.vision.plates.types import PlateRead


def vote(reads: Sequence[PlateRead], region: str) -> PlateRead | None:
    """One reading from the reads of one vehicle, voted per character, or None.

    Only reads that fit the region's formats vote. The length with the most total confidence
    wins; then each position takes the character with the largest summed confidence, and its
    confidence is that sum divided by the number of voters (a character seen in only half the
    frames gets at most 0.5). A voted text that fits no format falls back to the best read.
    """
    fmt = get_region(region)
    valid = [r for r in reads if fmt.match(r.text) is not None and len(r.char_conf) == len(r.text)]
    if not valid:
        return None
    by_len: dict[int, list[PlateRead]] = defaultdict(list)
    for r in valid:
        by_len[len(r.text)].append(r)
    group = max(by_len.values(), key=lambda g: sum(r.confidence for r in g))
    chars: list[str] = []
    confs: list[float] = []
    for k in range(len(group[0].text)):
        support: dict[str, float] = defaultdict(float)
        for r in group:
            support[r.text[k]] += r.char_conf[k]
        ch, total = max(support.items(), key=lambda kv: kv[1])
        chars.append(ch)
        confs.append(total / len(group))
    text = "".join(chars)
    best = max(group, key=lambda r: r.confidence)
    if fmt.match(text) is None:
        return best
    agreeing = [r for r in group if r.text == text] or [best]
    anchor = max(agreeing, key=lambda r: r.confidence)
    colors = [r.color for r in group if r.color is not None]
    color = max(set(colors), key=colors.count) if colors else None
    conf = float(np.exp(np.log(np.clip(confs, 1e-9, 1.0)).mean()))
    return PlateRead(text, color, conf, anchor.box, tuple(confs))
