"""Format-aware CTC decoding: the best path through a region's plate templates.

A CTC recogniser gives, for each of T time steps, a probability per vocabulary entry. Greedy
decoding takes the best entry per step, which on plates gives 0/O/D, 1/I, 8/B and province
confusions and happily reads a company name. Here every template of the region becomes a
chain of slots (each slot allows a few characters) and a Viterbi search finds the single most
probable CTC alignment that spells a whole template. All templates are searched at once as
rows of one state array, so the cost is one small numpy pass per time step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from edge.vision.plates.formats import Region, Template

NEG = np.float32(-1e9)
EPS = 1e-9
# log-cost of reading a look-alike (formats.yaml `alike`) as the character a slot wants: below a
# national format's prior, so a plate that fits it but for a read 0 where it has the letter O is
# read as that format, not as the generic one
ALIKE_COST = np.float32(0.5)
# a step at least this sure of blank carries no character; the search keeps one step of each run
# of such steps (to keep repeated characters apart) and skips the rest: a plate's CTC output is
# mostly blank, and the search's time is per step
BLANK_SURE = 0.999
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Decoded:
    """The best template-conforming reading of one CTC output."""

    text: str
    char_conf: tuple[float, ...]
    template: Template
    log_score: float  # log-probability of the chosen alignment
    greedy_log_score: float  # log-probability of the unconstrained best path (upper bound)
    # where each character was read along the line, as a share of its width (its first step)
    at: tuple[float, ...] = ()

    @property
    def confidence(self) -> float:
        """Geometric mean of the per-character confidences (0 for no character)."""
        # plain floats: numpy's per-call overhead on seven numbers cost a crop 40 us
        if not self.char_conf:
            return 0.0
        logs = [math.log(min(max(c, EPS), 1.0)) for c in self.char_conf]
        return math.exp(sum(logs) / len(logs))


FUSE_LEAST = 0.5  # a character of the second reading replaces the first's only this sure


def fuse(a: Decoded, b: Decoded) -> Decoded | None:
    """Two recognisers' readings of one plate that differ in one character, as one reading
    with the more confident of the two there; None when they differ more, or in layout.

    The two models err on different characters (PP-OCR on the province of a small plate, the
    plate model on look-alike letters), so one disputed character is settled by confidence;
    `b` must be at least FUSE_LEAST sure of its character to replace `a`'s (two guesses do not
    make a reading). Readings that differ in more are two different texts: mixing them would
    invent a plate.
    """
    if a.template.name != b.template.name or len(a.text) != len(b.text):
        return None
    if sum(x != y for x, y in zip(a.text, b.text, strict=True)) > 1:
        return None
    pairs = [
        (pb, cb) if pb > pa and pb >= FUSE_LEAST else (pa, ca)
        for ca, pa, cb, pb in zip(a.text, a.char_conf, b.text, b.char_conf, strict=True)
    ]
    text = "".join(c for _, c in pairs)
    template = a.template if a.template.accepts(text) else b.template
    if not template.accepts(text):
        return None
    return Decoded(
        text,
        tuple(p for p, _ in pairs),
        template,
        max(a.log_score, b.log_score),
        max(a.greedy_log_score, b.greedy_log_score),
        a.at,  # the same crop: the first reading's positions stand for both
    )


def settle(a: Decoded, b: Decoded, referee: Decoded | None) -> Decoded | None:
    """Two readings that differ in one character, settled by a third recogniser's reading of
    the same plate: the character two of the three read wins (the fused reading with it) when
    the referee is at least as sure of it as the dissenting reading is of its own; None when
    it is less sure, read the plate otherwise (its length) or a third character there.

    Confidence alone cannot settle a province that the plate model, trained mostly on 皖, reads
    as 皖 with 0.92 against PP-OCRv4's 0.58 豫; a third model sure of 豫 can. Two unsure
    readings do not outvote a sure one.
    """
    fused = fuse(a, b)
    if fused is None or referee is None or len(referee.text) != len(a.text) or a.text == b.text:
        return None
    k = next(i for i, (x, y) in enumerate(zip(a.text, b.text, strict=True)) if x != y)
    char = referee.text[k]
    agree, dissent = (a, b) if char == a.text[k] else (b, a)
    if char != agree.text[k] or referee.char_conf[k] < dissent.char_conf[k]:
        return None
    text = fused.text[:k] + char + fused.text[k + 1 :]
    confs = list(fused.char_conf)
    confs[k] = max(agree.char_conf[k], referee.char_conf[k])
    template = agree.template
    return Decoded(text, tuple(confs), template, fused.log_score, fused.greedy_log_score, fused.at)


class PlateDecoder:
    """Decodes CTC probabilities of one recogniser vocabulary against one region's formats."""

    def __init__(self, region: Region, vocab: Mapping[str, int], blank: int) -> None:
        """Map the region's characters to vocabulary indices; drop templates it cannot spell."""
        self.region = region
        # a custom charset may lack some characters (e.g. 使): drop those, and drop a template
        # only when one of its positions has no character left
        usable: list[Template] = []
        for t in region.templates:
            slots = tuple("".join(c for c in s if c in vocab) for s in t.slots)
            if all(slots):
                usable.append(Template(t.name, slots, t.regex, t.colors, t.prior))
        if not usable:
            raise ValueError(f"recogniser vocabulary cannot spell any {region.name} plate")
        self.templates = tuple(usable)
        chars = "".join(dict.fromkeys(c for t in usable for s in t.slots for c in s))
        self.chars = chars
        self.index = np.array([vocab[c] for c in chars], dtype=np.int64)
        self.sep_index = np.array(
            [vocab[c] for c in region.separators if c in vocab], dtype=np.int64
        )
        self.blank = blank
        col = {c: i for i, c in enumerate(chars)}
        rows: list[FloatArray] = []
        first: list[bool] = []
        self.last_rows: list[int] = []
        for t in usable:
            for k, slot in enumerate(t.slots):
                mask = np.full(len(chars), NEG, dtype=np.float32)
                for c in slot:
                    other = region.look_alike(c)
                    if other is not None and other in col and other not in slot:
                        mask[col[other]] = -ALIKE_COST
                mask[[col[c] for c in slot]] = 0.0
                rows.append(mask)
                first.append(k == 0)
            self.last_rows.append(len(rows) - 1)
        self.mask = np.stack(rows)
        self.first = np.array(first)
        n_rows = len(rows)
        # blank state before row r: the previous row's "after" blank, or the template's start.
        starts = np.cumsum([0] + [len(t.slots) for t in usable[:-1]])
        before = np.arange(n_rows) - 1
        before[starts] = n_rows + np.arange(len(usable))
        self.before = before
        self.top_prior = max(t.prior for t in usable)

    def decode(self, probs: FloatArray) -> Decoded | None:
        """Best template reading of a (T, V) probability matrix, or None if nothing fits."""
        if probs.shape[0] == 0:
            return None
        sub = probs[:, self.index]
        blank = probs[:, self.blank] + probs[:, self.sep_index].sum(axis=1)
        greedy = float(np.log(probs.max(axis=1) + EPS).sum())
        found = self._best_path(sub, blank, greedy)
        if found is None:
            steps = _informative(blank)
            where = np.flatnonzero(steps) / len(probs)  # the search sees only these steps
            found = self._search(sub[steps], blank[steps], greedy, where)
        if found is None or not self.region.write_as:
            return found
        # checked against the formats as read (ARIZONA is a word, not a plate), written as usual
        return replace(found, text=self.region.written(found.text))

    def _best_path(self, sub: FloatArray, blank: FloatArray, greedy: float) -> Decoded | None:
        """The unconstrained best path, when it already spells a plate of a top-prior template.

        No alignment of any template can score higher, so the search would find this same
        path; skipping it saves most of the decoding time on a clear plate.
        """
        best = sub.argmax(axis=1)
        best_p = sub[np.arange(len(sub)), best]
        is_char = best_p > blank
        chars: list[str] = []
        confs: list[float] = []
        at: list[float] = []
        prev = -1
        for t in range(len(sub)):
            c = int(best[t]) if is_char[t] else -1
            if c >= 0 and c == prev:
                confs[-1] = max(confs[-1], float(best_p[t]))
            elif c >= 0:
                chars.append(self.chars[c])
                confs.append(float(best_p[t]))
                at.append(t / len(sub))
            prev = c
        text = "".join(chars)
        fits = [t for t in self.templates if t.prior >= self.top_prior and t.accepts(text)]
        if not fits:
            return None
        score = float(np.log(np.where(is_char, best_p, blank) + EPS).sum())
        return Decoded(text, tuple(confs), fits[0], score, greedy, tuple(at))

    def _search(
        self,
        sub: FloatArray,
        blank: FloatArray,
        greedy: float,
        where: npt.NDArray[np.float64] | None = None,
    ) -> Decoded | None:
        """The best alignment over all templates (joint Viterbi); `where`: each step's place
        along the line as a share of its width (default: the steps are all of them)."""
        if where is None:
            where = np.arange(len(sub)) / max(len(sub), 1)
        logp = np.log(sub + EPS).astype(np.float32)
        logb = np.log(blank + EPS).astype(np.float32)
        best, path = self._viterbi(logp, logb)
        if best is None:
            return None
        t_idx, rows_cols = path
        template = self.templates[best]
        row0 = self.last_rows[best] - len(template.slots) + 1
        text_chars: list[str] = []
        confs: list[float] = []
        at: list[float] = []
        for k in range(len(template.slots)):
            frames = [t for t, (r, _) in zip(t_idx, rows_cols, strict=True) if r == row0 + k]
            at.append(float(where[frames[0]]))
            c = rows_cols[t_idx.index(frames[0])][1]
            char = self.chars[c]
            # a look-alike the slot took is written as the slot's character
            text_chars.append(
                char if char in template.slots[k] else self.region.look_alike(char) or char
            )
            confs.append(float(max(sub[t, c] for t in frames)))
        text = "".join(text_chars)
        if template.regex is not None and template.regex.match(text) is None:
            return None
        score = float(sum(logp[t, c] for t, (_, c) in zip(t_idx, rows_cols, strict=True)))
        score += float(sum(logb[t] for t in range(len(logb)) if t not in set(t_idx)))
        return Decoded(text, tuple(confs), template, score, greedy, tuple(at))

    def _viterbi(
        self, logp: FloatArray, logb: FloatArray
    ) -> tuple[int | None, tuple[list[int], list[tuple[int, int]]]]:
        """Run the joint Viterbi; returns the best template index and its char frames."""
        tr = self._forward(logp, logb)
        n_t = logp.shape[0]
        ends = [
            max((float(tr.b_state[r]), 0), (float(tr.c_state[r, tr.top1[n_t - 1, r]]), 1))
            for r in self.last_rows
        ]
        priors = [t.prior for t in self.templates]
        best = int(np.argmax([e[0] + p for e, p in zip(ends, priors, strict=True)]))
        if ends[best][0] <= NEG / 2:
            return None, ([], [])
        return best, self._backtrack(tr, self.last_rows[best], ends[best][1] == 1)

    def _forward(self, logp: FloatArray, logb: FloatArray) -> _Trellis:
        n_t = logp.shape[0]
        n_rows, n_cols = self.mask.shape
        n_b = n_rows + len(self.templates)
        c_state = np.where(self.first[:, None], self.mask + logp[0], NEG)
        b_state = np.full(n_b, NEG, dtype=np.float32)
        b_state[n_rows:] = logb[0]
        tr = _Trellis(
            bp_c=np.zeros((n_t, n_rows, n_cols), dtype=np.int8),
            bp_b=np.zeros((n_t, n_b), dtype=np.int8),
            top1=np.zeros((n_t, n_rows), dtype=np.int64),
            top2=np.zeros((n_t, n_rows), dtype=np.int64),
        )
        prev_row = np.arange(n_rows) - 1
        cols = np.arange(n_cols)
        rows = np.arange(n_rows)
        for t in range(1, n_t):
            # the best and second-best character of each row (argmax twice: a full sort of
            # every row at every step took most of the decoding time)
            a1 = c_state.argmax(axis=1)
            v1 = c_state[rows, a1]
            c_state[rows, a1] = -np.inf
            a2 = c_state.argmax(axis=1)
            v2 = c_state[rows, a2]
            c_state[rows, a1] = v1
            tr.top1[t - 1], tr.top2[t - 1] = a1, a2
            # blank states: stay, or close the char of the same row
            new_b = b_state.copy()
            tr.bp_b[t, :n_rows] = v1 > b_state[:n_rows]
            new_b[:n_rows] = np.maximum(b_state[:n_rows], v1)
            new_b += logb[t]
            # char states: stay, from the blank before, or straight from the previous row's char
            # (CTC needs a blank between two equal characters, hence the second best)
            from_b = b_state[self.before][:, None]
            pv1 = np.where(self.first, NEG, v1[prev_row])[:, None]
            pv2 = np.where(self.first, NEG, v2[prev_row])[:, None]
            from_c = np.where(cols[None, :] == a1[prev_row][:, None], pv2, pv1)
            # the first of equal moves wins: stay, then from the blank, then from the char
            take_b = from_b > c_state
            best = np.where(take_b, from_b, c_state)
            take_c = from_c > best
            tr.bp_c[t] = np.where(take_c, 2, take_b)
            c_state = np.where(take_c, from_c, best) + logp[t] + self.mask
            b_state = new_b
        tr.top1[n_t - 1] = c_state.argmax(axis=1)
        tr.c_state, tr.b_state = c_state, b_state
        return tr

    def _backtrack(
        self, tr: _Trellis, row: int, in_char: bool
    ) -> tuple[list[int], list[tuple[int, int]]]:
        n_rows = self.mask.shape[0]
        n_t = tr.bp_c.shape[0]
        col = int(tr.top1[n_t - 1, row])
        b_idx = row
        frames: list[int] = []
        states: list[tuple[int, int]] = []
        for t in range(n_t - 1, 0, -1):
            if in_char:
                frames.append(t)
                states.append((row, col))
                move = tr.bp_c[t, row, col]
                if move == 1:
                    in_char, b_idx = False, int(self.before[row])
                elif move == 2:
                    prev = row - 1
                    best_prev = int(tr.top1[t - 1, prev])
                    col = best_prev if best_prev != col else int(tr.top2[t - 1, prev])
                    row = prev
            elif b_idx < n_rows and tr.bp_b[t, b_idx]:
                in_char, row = True, b_idx
                col = int(tr.top1[t - 1, row])
        if in_char:
            frames.append(0)
            states.append((row, col))
        frames.reverse()
        states.reverse()
        return frames, states


def _informative(blank: FloatArray) -> npt.NDArray[np.bool_]:
    """The steps the search needs: all but the second and later of a run of sure blanks."""
    sure = blank >= BLANK_SURE
    repeat = np.concatenate(([False], sure[:-1]))
    return ~(sure & repeat)


@dataclass
class _Trellis:
    """Back-pointers of the Viterbi pass (mutable scratch, never leaves this module)."""

    bp_c: npt.NDArray[np.int8]  # per step, row, col: 0 stay, 1 from blank, 2 from previous row
    bp_b: npt.NDArray[np.int8]  # per step, blank state: 1 = closed the row's char
    top1: npt.NDArray[np.int64]  # per step, row: best column (and for the close move)
    top2: npt.NDArray[np.int64]  # per step, row: second best column
    c_state: FloatArray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    b_state: FloatArray = field(default_factory=lambda: np.zeros(0, np.float32))
