"""Training samples for the Chinese plate recogniser: rendered plates and real CCPD crops.

Rendered plates (edge.sim.plates) cover every province, colour and format; real CCPD crops
(Apache-2.0 / MIT, `../shared/data/plates/ccpd-crops`) teach what a camera does to them. Both go
through the same degradations: perspective, loose or tight crop, low resolution, blur, noise,
colour cast and JPEG. Two-row plates are joined with the reader's own `join_rows`, so the model
sees exactly what the reader feeds it.

EasyPR and OpenALPR images are evaluation-only (licences): this module never reads them.
"""

from __future__ import annotations

import csv
import hashlib
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

from edge.sim.plates import CJK_FONTS, LATIN_FONTS, glyph, render_plate
from edge.vision.plates.formats import load_regions
from edge.vision.plates.reader import join_rows
from models.plate_rec.glyphs import Bank, repaint

Image = npt.NDArray[np.uint8]
HEIGHT, WIDTH = 32, 128
EXTRA_LATIN = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed.ttf", 0),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2),
)
EXTRA_CJK = (("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),)


def charset() -> list[str]:
    """Every character a Chinese plate template may hold, in a fixed order."""
    cn = load_regions()["cn"]
    chars = dict.fromkeys(c for t in cn.templates for s in t.slots for c in s)
    return list(chars)


def is_holdout(name: str) -> bool:
    """A fixed quarter of the CCPD crops is never trained on (hash of the file name)."""
    return hashlib.sha256(name.encode()).digest()[0] < 64


def first_characters(crops: list[tuple[Image, str]]) -> dict[str, int]:
    """How many real crops begin with each character (a province), most first: the reader
    takes the model's reading of a plate crop as final only for provinces it learnt from
    real plates (`real_train_first` in the model's JSON card)."""
    counts: dict[str, int] = {}
    for _, plate in crops:
        counts[plate[0]] = counts.get(plate[0], 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def load_crops(folder: Path, holdout: bool) -> list[tuple[Image, str]]:
    """CCPD crops (image, plate) of the training or held-out part."""
    out: list[tuple[Image, str]] = []
    with (folder / "labels.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if is_holdout(row["file"]) != holdout:
                continue
            img = cv2.imread(str(folder / "images" / row["file"]))
            if img is not None:
                out.append((img, row["plate"]))
    return out


@dataclass
class TextSampler:
    """Random plate texts per template, with colours and row layout as issued."""

    rng: random.Random

    def sample(self) -> tuple[str, str, bool]:
        """(text, colour, two_row)."""
        cn = {t.name: t for t in load_regions()["cn"].templates}
        r = self.rng.random()
        if r < 0.55:
            name = "standard"
            color = self.rng.choices(["blue", "yellow", "black"], [0.6, 0.37, 0.03])[0]
        elif r < 0.70:
            name, color = "nev_small", "green"
        elif r < 0.80:
            name, color = "nev_large", "yellow-green"
        elif r < 0.97:
            name = "special_suffix"
            color = "yellow"
        else:
            name, color = "embassy", "black"
        template = cn[name]
        text = "".join(self._char(slot) for slot in template.slots)
        if name == "special_suffix":
            color = {"警": "white", "领": "black", "港": "black", "澳": "black"}.get(
                text[-1], color
            )
        if name == "nev_large" and self.rng.random() < 0.3:
            color = "green"
        two_row = color == "yellow" and len(text) == 7 and self.rng.random() < 0.4
        return text, color, two_row

    def _char(self, slot: str) -> str:
        """Issued plates are mostly digits after the letter: favour them where both may stand."""
        digits = [c for c in slot if c.isdigit()]
        if digits and len(digits) < len(slot) and self.rng.random() < 0.6:
            return self.rng.choice(digits)
        return self.rng.choice(slot)


def _fonts(rng: random.Random) -> tuple[tuple[str, int], tuple[str, int]]:
    cjk = [f for f in (*CJK_FONTS, *EXTRA_CJK) if Path(f[0]).is_file()]
    latin = [f for f in (*LATIN_FONTS, *EXTRA_LATIN) if Path(f[0]).is_file()]
    return rng.choice(cjk), rng.choice(latin)


def _perspective(img: Image, rng: random.Random, out_w: int, out_h: int, jitter: float) -> Image:
    """Warp the plate as a camera sees it, and crop around it tightly or loosely."""
    h, w = img.shape[:2]
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    margin = rng.uniform(-0.04, 0.10)
    dst = []
    for x, y in ((0, 0), (1, 0), (1, 1), (0, 1)):
        dx = (x - 0.5) * (1 - 2 * margin) + 0.5 + rng.uniform(-jitter, jitter)
        dy = (y - 0.5) * (1 - 2 * margin * 2.5) + 0.5 + rng.uniform(-jitter, jitter) * 2
        dst.append([dx * out_w, dy * out_h])
    m = cv2.getPerspectiveTransform(src, np.float32(dst))
    border = tuple(rng.randint(0, 255) for _ in range(3))
    return np.asarray(
        cv2.warpPerspective(
            img, m, (out_w, out_h), borderMode=cv2.BORDER_CONSTANT, borderValue=border
        ),
        np.uint8,
    )


def degrade(img: Image, rng: random.Random) -> Image:
    """Low resolution, blur, noise, colour cast, gamma, JPEG: what a roadside camera adds."""
    h, w = img.shape[:2]
    scale = rng.uniform(0.35, 1.0) if w > 60 else 1.0
    if scale < 0.98:
        small = cv2.resize(
            img, (max(16, round(w * scale)), max(6, round(h * scale))), interpolation=cv2.INTER_AREA
        )
        img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.4:
        k = rng.choice([3, 5])
        img = cv2.GaussianBlur(img, (k, k), 0)
    if rng.random() < 0.2:  # horizontal motion blur
        k = rng.choice([3, 5, 7])
        kernel = np.zeros((k, k), np.float32)
        kernel[k // 2, :] = 1.0 / k
        img = cv2.filter2D(img, -1, kernel)
    f = img.astype(np.float32)
    f = f * rng.uniform(0.55, 1.35) + rng.uniform(-40, 40)
    f += np.array([rng.uniform(-25, 25) for _ in range(3)], np.float32)[None, None, :]
    if rng.random() < 0.5:
        f += np.random.default_rng(rng.getrandbits(32)).normal(0, rng.uniform(2, 12), f.shape)
    f = np.clip(f, 0, 255)
    gamma = rng.uniform(0.6, 1.6)
    f = 255.0 * (f / 255.0) ** gamma
    img = f.astype(np.uint8)
    if rng.random() < 0.7:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(20, 90)])
        if ok:
            img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return np.asarray(img, np.uint8)


def synthetic(rng: random.Random, sampler: TextSampler) -> tuple[Image, str]:
    """One rendered, warped and degraded plate as the reader would crop it."""
    text, color, two_row = sampler.sample()
    cjk, latin = _fonts(rng)
    plate = render_plate(text, color, two_row, cjk, latin)
    if two_row:
        warped = _perspective(plate, rng, 200, 100, 0.03)
        crop = join_rows(warped)
    else:
        out_w = rng.randint(90, 220)
        warped = _perspective(
            plate, rng, out_w, max(20, round(out_w * plate.shape[0] / plate.shape[1])), 0.04
        )
        crop = warped
    return degrade(crop, rng), text


# GA 36 blue plate, mm of 440 x 140: the province character's box, and the wider area cleared
# around it (short of the plate's rim and of the letter after it, which starts at 72 mm)
PROVINCE_BOX = (16, 25, 61, 115)
PROVINCE_CLEAR = (9, 18, 67, 122)


def _mm(box: tuple[int, int, int, int], w: int, h: int) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    return round(x0 * w / 440), round(y0 * h / 140), round(x1 * w / 440), round(y1 * h / 140)


def swap_province(img: Image, text: str, rng: random.Random) -> tuple[Image, str]:
    """A real blue crop with its province character painted over by another (any province,
    its own included, so the paint itself says nothing).

    The real crops are 96 % 皖: without this the model learns that a real-looking plate is a
    皖 plate and reads 皖 at 0.99 on small plates of other provinces. The new character is
    inked in the crop's own background and character colours and softened like its edges.
    """
    h, w = img.shape[:2]
    province = load_regions()["cn"].templates[0].slots[0]
    new = rng.choice(province)
    # the plate's own colours, from the characters right of the province
    x0, y0, x1, y1 = _mm(PROVINCE_BOX, w, h)
    rest = img[y0:y1, _mm(PROVINCE_CLEAR, w, h)[2] :]
    grey = cv2.cvtColor(rest, cv2.COLOR_BGR2GRAY)
    level, _ = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    ink, paper = grey > level, grey <= level
    if ink.sum() < 8 or paper.sum() < 8:
        return img, text
    pixels = rest.astype(np.float32)
    fg, bg = np.median(pixels[ink], axis=0), np.median(pixels[paper], axis=0)
    noise = float(np.std(grey[paper])) * 0.5
    out = img.astype(np.float32)
    cx0, cy0, cx1, cy1 = _mm(PROVINCE_CLEAR, w, h)
    gen = np.random.default_rng(rng.getrandbits(32))
    out[cy0:cy1, cx0:cx1] = bg + gen.normal(0, noise, (cy1 - cy0, cx1 - cx0, 1))
    mask = glyph(new, *_fonts(rng)[0])
    alpha = cv2.resize(mask, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    alpha = cv2.GaussianBlur(alpha.astype(np.float32) / 255.0, (3, 3), rng.uniform(0.3, 0.9))
    box = out[y0:y1, x0:x1]
    out[y0:y1, x0:x1] = box * (1 - alpha[..., None]) + fg * alpha[..., None]
    return np.clip(out, 0, 255).astype(np.uint8), new + text[1:]


def real(
    rng: random.Random,
    crops: list[tuple[Image, str]],
    *,
    swap: float = 0.0,
    bank: Bank | None = None,
    repainted: float = 0.0,
    tilted: float = 0.0,
) -> tuple[Image, str]:
    """A CCPD crop with a mild re-warp and the same degradations; a `repainted` share of them
    with tail characters of other crops painted in (`glyphs.repaint`, from `bank`), a `swap`
    share with another province painted in (`swap_province`), and a `tilted` share turned
    further (`tilt`)."""
    if bank is not None and bank[0] and rng.random() < repainted:
        parts, text = rng.choice(bank[0])
        img, text = repaint(parts, text, bank[1], rng)
    else:
        img, text = rng.choice(crops)
    if rng.random() < swap:
        img, text = swap_province(img, text, rng)
    if rng.random() < tilted:
        img = tilt(img, rng)
    h, w = img.shape[:2]
    big = cv2.resize(img, (w * 2, h * 2), interpolation=cv2.INTER_CUBIC)
    src = np.float32([[0, 0], [2 * w, 0], [2 * w, 2 * h], [0, 2 * h]])
    j = 0.03
    dst = np.float32(
        [
            [(x + rng.uniform(-j, j)) * 2 * w, (y + rng.uniform(-2 * j, 2 * j)) * 2 * h]
            for x, y in ((0, 0), (1, 0), (1, 1), (0, 1))
        ]
    )
    m = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(big, m, (2 * w, 2 * h), borderMode=cv2.BORDER_REPLICATE)
    out = (
        degrade(np.asarray(warped, np.uint8), rng)
        if rng.random() < 0.7
        else np.asarray(warped, np.uint8)
    )
    return out, text


MAX_TILT = 10.0  # degrees a crop is turned further by `tilt`


def tilt(img: Image, rng: random.Random) -> Image:
    """The crop turned by up to MAX_TILT degrees and cut to the upright box around it, as
    CCPD cuts a turned plate (its box): the held-out crops the model misread are mostly
    turned ones, their characters climbing across the 32 px input. The corners the box adds
    are filled with the crop's own edge, drawn out."""
    h, w = img.shape[:2]
    angle = rng.uniform(-MAX_TILT, MAX_TILT)
    pad = round(0.3 * w)
    padded = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    centre = (pad + w / 2, pad + h / 2)
    m = cv2.getRotationMatrix2D(centre, angle, 1.0)
    turned = cv2.warpAffine(padded, m, (padded.shape[1], padded.shape[0]), flags=cv2.INTER_LINEAR)
    corners = np.array(
        [[pad, pad, 1], [pad + w, pad, 1], [pad + w, pad + h, 1], [pad, pad + h, 1]], np.float32
    )
    xs, ys = (corners @ m.T).T
    x0, x1 = max(0, int(xs.min())), min(turned.shape[1], int(np.ceil(xs.max())))
    y0, y1 = max(0, int(ys.min())), min(turned.shape[0], int(np.ceil(ys.max())))
    return np.asarray(turned[y0:y1, x0:x1], np.uint8)


# painted text a camera also sees: company names, slogans, phone numbers (never a plate)
WORDS_CN = "中国重汽解放东风陕汽物流运输有限公司集团快递冷链危险品限速安全驾驶货运专线搬家"
WORDS_LATIN = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789      "


def negative(rng: random.Random) -> tuple[Image, str]:
    """A crop that is not a plate (painted text, grille, texture); its label is empty."""
    w, h = rng.randint(80, 260), rng.randint(24, 70)
    bg = [rng.randint(0, 255) for _ in range(3)]
    img = np.empty((h, w, 3), np.uint8)
    img[:] = bg
    kind = rng.random()
    if kind < 0.7:  # text: Chinese words or Latin letters and digits of any length
        if rng.random() < 0.5:
            text = "".join(rng.choice(WORDS_CN) for _ in range(rng.randint(2, 8)))
            font = _fonts(rng)[0]
        else:
            text = (
                "".join(rng.choice(WORDS_LATIN) for _ in range(rng.randint(3, 14))).strip()
                or "EXPRESS"
            )
            font = _fonts(rng)[1]
        canvas = PILImage.new("RGB", (w * 4, h * 2), tuple(bg))
        fnt = ImageFont.truetype(font[0], h, index=font[1])
        fg = tuple(rng.randint(0, 255) for _ in range(3))
        ImageDraw.Draw(canvas).text((rng.randint(0, w // 4), h // 4), text, fill=fg, font=fnt)
        img = cv2.resize(np.asarray(canvas, np.uint8), (w, h), interpolation=cv2.INTER_AREA)
    elif kind < 0.85:  # radiator grille, bumper edges: strong stripes
        step = rng.randint(3, 12)
        for x in range(0, w if rng.random() < 0.5 else h, step):
            c = tuple(rng.randint(0, 255) for _ in range(3))
            if w > h and rng.random() < 0.5:
                cv2.line(img, (x, 0), (x, h), c, rng.randint(1, 3))
            else:
                cv2.line(img, (0, x), (w, x), c, rng.randint(1, 3))
    else:  # road, sky, body panels: noise and gradients
        noise = np.random.default_rng(rng.getrandbits(32)).normal(0, rng.uniform(5, 60), img.shape)
        img = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    return degrade(img, rng), ""


def to_input(img: Image) -> npt.NDArray[np.float32]:
    """The recogniser's input: BGR resized to 32x128, (p - 127.5) / 127.5, CHW.

    Resized as edge.vision.plates.recognise does: area when shrinking, linear when enlarging.
    """
    shrink = img.shape[1] > WIDTH
    interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    x = cv2.resize(img, (WIDTH, HEIGHT), interpolation=interpolation).astype(np.float32)
    return ((x - 127.5) / 127.5).transpose(2, 0, 1)


def stream(
    seed: int, crops: list[tuple[Image, str]], real_share: float
) -> Iterator[tuple[Image, str]]:
    """Endless mixed samples."""
    rng = random.Random(seed)
    sampler = TextSampler(rng)
    while True:
        if crops and rng.random() < real_share:
            yield real(rng, crops)
        else:
            yield synthetic(rng, sampler)
