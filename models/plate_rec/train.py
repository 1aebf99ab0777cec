"""Train the Chinese plate recogniser (small CNN + CTC) and export it to ONNX.

    .venv/bin/pip install -r models/plate_rec/requirements.txt
    .venv/bin/python -m models.plate_rec.generate --out /tmp/plates --count 180000
    .venv/bin/python -m models.plate_rec.train --synthetic /tmp/plates --minutes 40 \
        --out edge/vision/plates/models

Data: rendered plates (pre-generated shards, see generate.py) plus the training part of the
CCPD crops (`is_holdout` keeps a fixed quarter out), degraded on the fly. The held-out quarter is
the validation set; the best checkpoint by exact-plate accuracy on it is exported. CPU only.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from models.plate_rec.data import (
    HEIGHT,
    WIDTH,
    charset,
    first_characters,
    load_crops,
    negative,
    real,
    to_input,
)
from models.plate_rec.glyphs import Bank, glyph_bank

CCPD_CROPS = Path(__file__).resolve().parents[2].parent / "shared/data/plates/ccpd-crops"


def block(c_in: int, c_out: int) -> nn.Sequential:
    """3x3 conv, batch norm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class PlateNet(nn.Module):
    """(N, 3, 32, 128) BGR in, (N, 32, V) class probabilities out (blank first).

    `width` scales every layer's channels (1.0: the 0.2 M-parameter model).
    """

    def __init__(self, n_classes: int, width: float = 1.0) -> None:
        super().__init__()
        c = [max(8, round(n * width)) for n in (16, 32, 64, 96, 128)]
        self.features = nn.Sequential(
            block(3, c[0]),
            nn.MaxPool2d(2),  # 16 x 64
            block(c[0], c[1]),
            nn.MaxPool2d(2),  # 8 x 32
            block(c[1], c[2]),
            block(c[2], c[2]),
            nn.MaxPool2d((2, 1)),  # 4 x 32
            block(c[2], c[3]),
            nn.MaxPool2d((2, 1)),  # 2 x 32
            nn.Conv2d(c[3], c[4], (2, 1), bias=False),  # 1 x 32
            nn.BatchNorm2d(c[4]),
            nn.ReLU(inplace=True),
        )
        self.sequence = nn.Sequential(
            nn.Conv1d(c[4], c[4], 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Dropout(0.1),
            nn.Conv1d(c[4], n_classes, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x).squeeze(2)  # N, C, T
        return self.sequence(f).permute(0, 2, 1)  # N, T, V logits


def greedy(logits: torch.Tensor, chars: list[str]) -> list[str]:
    """Best-path CTC decoding (validation only; the reader decodes against plate formats)."""
    out = []
    for row in logits.argmax(-1).tolist():
        text, prev = [], 0
        for k in row:
            if k not in (prev, 0):
                text.append(chars[k - 1])
            prev = k
        out.append("".join(text))
    return out


def load_synthetic(folder: Path) -> tuple[np.ndarray, list[str]]:
    """All pre-generated shards in a folder."""
    arrays, texts = [], []
    for npy in sorted(folder.glob("*.npy")):
        arrays.append(np.load(npy))
        texts += npy.with_suffix(".txt").read_text(encoding="utf-8").split("\n")
    return np.concatenate(arrays), texts


def encode(texts: list[str], index: dict[str, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """CTC targets: concatenated class ids and lengths."""
    ids = [index[c] for t in texts for c in t]
    return torch.tensor(ids, dtype=torch.long), torch.tensor(
        [len(t) for t in texts], dtype=torch.long
    )


def evaluate(model: PlateNet, crops: list[tuple[np.ndarray, str]], chars: list[str]) -> float:
    """Exact-plate share of the held-out CCPD crops (greedy decoding)."""
    model.eval()
    with torch.no_grad():
        x = torch.from_numpy(np.stack([to_input(img) for img, _ in crops]))
        pred = greedy(model(x), chars)
    model.train()
    return sum(p == t for p, (_, t) in zip(pred, crops, strict=True)) / len(crops)


def export(model: PlateNet, chars: list[str], out: Path, meta: dict[str, object]) -> None:
    """ONNX with softmax output (N, T, V), the charset file and a metadata JSON beside it."""

    class WithSoftmax(nn.Module):
        def __init__(self, net: PlateNet) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.net(x), dim=-1)

    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    dummy = torch.zeros(1, 3, HEIGHT, WIDTH)
    torch.onnx.export(
        WithSoftmax(model),
        (dummy,),
        str(out / "plate_rec_cn.onnx"),
        input_names=["x"],
        output_names=["probs"],
        dynamic_axes={"x": {0: "n"}, "probs": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )
    (out / "plate_rec_cn.txt").write_text("\n".join(chars) + "\n", encoding="utf-8")
    (out / "plate_rec_cn.json").write_text(
        json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def load_init(model: PlateNet, weights: Path, chars: list[str]) -> None:
    """Start from a checkpoint (plate_rec_cn.pt, its charset file beside it), also one trained
    on an older charset: the output rows of the characters both know are kept, a character
    new to the plate formats starts from the fresh model's row."""
    state = torch.load(weights)
    old = weights.with_suffix(".txt").read_text(encoding="utf-8").rstrip("\n").split("\n")
    head = model.sequence[3]
    rows = [0] + [1 + old.index(c) if c in old else -1 for c in chars]  # 0 = blank
    for name in ("weight", "bias"):
        fresh = getattr(head, name).detach().clone()
        saved = state[f"sequence.3.{name}"]
        for new, was in enumerate(rows):
            if was >= 0:
                fresh[new] = saved[was]
        state[f"sequence.3.{name}"] = fresh
    model.load_state_dict(state)


def parse_args() -> argparse.Namespace:
    """Command line."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--synthetic", type=Path, required=True)
    ap.add_argument("--crops", type=Path, default=CCPD_CROPS)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--minutes", type=float, default=40.0)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--real-share", type=float, default=0.25)
    ap.add_argument("--negative-share", type=float, default=0.0, help="non-plate crops")
    ap.add_argument(
        "--swap-province",
        type=float,
        default=0.0,
        help="share of real crops with another province painted in (data.swap_province)",
    )
    ap.add_argument(
        "--repaint",
        type=float,
        default=0.0,
        help="share of real crops with tail characters of other crops painted in (glyphs.repaint)",
    )
    ap.add_argument(
        "--tilt", type=float, default=0.0, help="share of real crops turned further (data.tilt)"
    )
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--lr", type=float, default=2e-3, help="peak learning rate")
    ap.add_argument("--init", type=Path, help="start from these weights (plate_rec_cn.pt)")
    ap.add_argument("--width", type=float, default=1.0, help="channel multiplier of PlateNet")
    return ap.parse_args()


@dataclass
class Batches:
    """Training batches: pre-rendered plates plus freshly degraded real crops."""

    syn_x: np.ndarray
    syn_t: list[str]
    crops: list[tuple[np.ndarray, str]]
    index: dict[str, int]
    size: int
    n_real: int
    n_negative: int
    rng: random.Random
    swap: float = 0.0
    bank: Bank | None = None
    repainted: float = 0.0
    tilted: float = 0.0

    def make(self, step: int) -> tuple[torch.Tensor, list[str]]:
        """Inputs (N, 3, 32, 128) and their texts."""
        n_syn = self.size - self.n_real - self.n_negative
        pick = np.random.default_rng(step).integers(0, len(self.syn_t), n_syn)
        xs = [((self.syn_x[i].astype(np.float32) - 127.5) / 127.5).transpose(2, 0, 1) for i in pick]
        texts = [self.syn_t[i] for i in pick]
        for _ in range(self.n_real):
            img, text = real(
                self.rng,
                self.crops,
                swap=self.swap,
                bank=self.bank,
                repainted=self.repainted,
                tilted=self.tilted,
            )
            xs.append(to_input(img))
            texts.append(text)
        for _ in range(self.n_negative):  # non-plates: the model must output only blanks
            img, text = negative(self.rng)
            xs.append(to_input(img))
            texts.append(text)
        return torch.from_numpy(np.stack(xs)), texts


def train(
    model: PlateNet,
    batches: Batches,
    val: list[tuple[np.ndarray, str]],
    minutes: float,
    peak_lr: float,
) -> int:
    """AdamW with a cosine schedule for a time budget; the final weights are kept (the held-out
    crops are only watched, never used to pick a checkpoint, so their figure stays honest)."""
    chars = list(batches.index)
    opt = torch.optim.AdamW(model.parameters(), lr=peak_lr, weight_decay=1e-4)
    ctc = nn.CTCLoss(blank=0, zero_infinity=True)
    budget, t0, step = minutes * 60, time.monotonic(), 0
    while (elapsed := time.monotonic() - t0) < budget:
        lr = max(2e-5, peak_lr * 0.5 * (1 + np.cos(np.pi * elapsed / budget)))
        for g in opt.param_groups:
            g["lr"] = lr
        x, texts = batches.make(step)
        targets, lengths = encode(texts, batches.index)
        logp = model(x).log_softmax(-1).permute(1, 0, 2)  # T, N, V
        steps_in = torch.full((len(texts),), logp.shape[0], dtype=torch.long)
        loss = ctc(logp, targets, steps_in, lengths)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 250 == 0:
            acc = evaluate(model, val, chars)
            print(
                f"step {step} t={elapsed / 60:.1f}min loss {loss.item():.3f} lr {lr:.2e} "
                f"held-out exact {acc:.3f}",
                flush=True,
            )
    return step


def main() -> None:
    """Train for a time budget and export the model with its charset and figures."""
    args = parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    chars = charset()
    syn_x, syn_t = load_synthetic(args.synthetic)
    crops = load_crops(args.crops, holdout=False)
    val = load_crops(args.crops, holdout=True)
    print(f"synthetic {len(syn_t)} real train {len(crops)} held out {len(val)}", flush=True)
    n_real = round(args.batch * args.real_share)
    index = {c: i + 1 for i, c in enumerate(chars)}  # 0 = blank
    n_negative = round(args.batch * args.negative_share)
    rng = random.Random(args.seed)
    batches = Batches(
        syn_x,
        syn_t,
        crops,
        index,
        args.batch,
        n_real,
        n_negative,
        rng,
        args.swap_province,
        glyph_bank(crops) if args.repaint > 0 else None,
        args.repaint,
        args.tilt,
    )
    model = PlateNet(len(chars) + 1, args.width)
    if args.init is not None:
        load_init(model, args.init, chars)
    steps = train(model, batches, val, args.minutes, args.lr)
    meta = {
        "held_out_exact_greedy": evaluate(model, val, chars),
        "steps": steps,
        "batch": args.batch,
        "synthetic": len(syn_t),
        "real_train": len(crops),
        "real_train_first": first_characters(crops),
        "swap_province": args.swap_province,
        "repaint": args.repaint,
        "tilt": args.tilt,
        "held_out": len(val),
        "input": [3, HEIGHT, WIDTH],
        "width": args.width,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    export(model, chars, args.out, meta)
    torch.save(model.state_dict(), args.out / "plate_rec_cn.pt")  # to resume; not committed
    print(json.dumps(meta), flush=True)


if __name__ == "__main__":
    main()
