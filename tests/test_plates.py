"""Plate reading: formats, format-aware decoding, real models on real CCPD images, vote, CLI."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import random
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from edge.cli import plates as plates_cli
from edge.errors import ConfigError, ModelError
from edge.sim.plates import render_plate
from edge.vision.plates import PlateRead, PlateReader, PlatesConfig, color, recognise, vote
from edge.vision.plates.color import (
    PlateLook,
    classify_color,
    colour_patches,
    colourless,
    crop_colour,
    plate_colour,
)
from edge.vision.plates.config import RecogniserConfig
from edge.vision.plates.decode import Decoded, PlateDecoder, _informative, fuse, settle
from edge.vision.plates.detect import (
    TILE,
    Candidate,
    above_bottom_row,
    group_lines,
    order_quad,
    quad_size,
    tiles,
)
from edge.vision.plates.exposure import (
    FLAT_RANGE,
    LEVELS_SAMPLE,
    MAX_GAIN,
    dehazed,
    grey_percentiles,
    levelled,
    levels,
    sampled,
)
from edge.vision.plates.formats import load_regions, region
from edge.vision.plates.reader import band_quad, blank_emblems, issued_in
from edge.vision.plates.recognise import Recogniser
from edge.vision.plates.slant import edge_slant, lean, upright
from models.plate_rec.data import MAX_TILT, first_characters, is_holdout, swap_province, tilt
from models.plate_rec.glyphs import UP, glyph_bank, repaint, split
from tests.conftest import SHARED

PLATES = SHARED / "data" / "plates"
CROPS = PLATES / "ccpd-crops"
SCENES = PLATES / "ccpd-scenes"
HYPERLPR = SHARED / "data" / "models" / "hyperlpr3" / "y5fu_320x_sim.onnx"


def imread(path: Path) -> np.ndarray:
    image = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, path
    return image


def scene_labels() -> list[dict[str, str]]:
    with (SCENES / "labels.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    return PlateReader(PlatesConfig())


# --- plate model training data ---------------------------------------------------------------


def test_a_real_crop_gets_another_province_painted_in_and_keeps_the_rest() -> None:
    crop = imread(CROPS / "images" / "皖HLE188.jpg")
    w = crop.shape[1]
    painted, text = swap_province(crop, "皖HLE188", random.Random(4))
    assert text[1:] == "HLE188" and text[0] in region("cn").templates[0].slots[0]
    assert painted.shape == crop.shape
    left, right = slice(0, round(w * 67 / 440)), slice(round(w * 67 / 440), w)
    assert np.array_equal(painted[:, right], crop[:, right])  # the letters after it as they were
    assert np.abs(painted[:, left].astype(int) - crop[:, left]).mean() > 5


def test_a_real_crop_gets_real_characters_of_other_crops_painted_into_its_tail() -> None:
    crop = imread(CROPS / "images" / "皖HLE188.jpg")
    parts = split(crop)
    assert parts is not None and len(parts.boxes) == 5  # L E 1 8 8, left to right
    assert parts.boxes[0][0] > crop.shape[1] * UP * 134 / 440 * 0.9  # right of the dot
    others = [(imread(CROPS / "images" / f"{p}.jpg"), p) for p in ("皖AB146Y", "皖A77Z41")]
    splits, glyphs = glyph_bank(others)
    assert [text for _, text in splits] == ["皖AB146Y", "皖A77Z41"]
    assert sorted(g.char for g in glyphs) == sorted("B146Y" + "77Z41")
    changed = 0
    for seed in range(8):
        painted, text = repaint(parts, "皖HLE188", glyphs, random.Random(seed))
        assert painted.shape == crop.shape and text[:2] == "皖H"
        assert set(text[2:]) <= set("LE188B146Y77Z41")
        if text != "皖HLE188":
            changed += 1
            # the province and letter stay; the tail carries the new characters
            left = slice(0, round(crop.shape[1] * 0.28))
            assert np.abs(painted[:, left].astype(int) - crop[:, left]).mean() < 4
    assert changed >= 6


def test_a_real_crop_is_turned_and_cut_to_its_upright_box_as_ccpd_cuts_a_turned_plate() -> None:
    crop = imread(CROPS / "images" / "皖HLE188.jpg")
    h, w = crop.shape[:2]
    angle = math.radians(random.Random(3).uniform(-MAX_TILT, MAX_TILT))
    turned = tilt(crop, random.Random(3))
    box_w = w * math.cos(angle) + h * abs(math.sin(angle))
    box_h = h * math.cos(angle) + w * abs(math.sin(angle))
    assert abs(turned.shape[1] - box_w) <= 2 and abs(turned.shape[0] - box_h) <= 2
    assert turned.shape[0] > h + 4  # turned a few degrees: the box is much taller


def test_real_crops_are_counted_by_their_first_character() -> None:
    crop = np.zeros((24, 94, 3), np.uint8)
    counts = first_characters([(crop, "皖A12345"), (crop, "苏B12345"), (crop, "皖C12345")])
    assert counts == {"皖": 2, "苏": 1} and next(iter(counts)) == "皖"


# --- formats -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("皖A12345", "standard"),
        ("浙AD12345", "nev_small"),
        ("粤B12345D", "nev_large"),
        ("鲁A1234挂", "special_suffix"),
        ("渝B3587学", "special_suffix"),
        ("粤Z1234港", "special_suffix"),
        ("使123456", "embassy"),
        ("粤OA2160", "official_o"),
        ("京O12345", "official_o"),
    ],
)
def test_cn_formats_accept_real_plate_series(text: str, fmt: str) -> None:
    template = region("cn").match(text)
    assert template is not None and template.name == fmt


@pytest.mark.parametrize(
    "text", ["中国重汽", "皖A1234", "皖AI2345", "皖A0O123", "A123456", "皖A123456789"]
)
def test_cn_formats_reject_non_plates(text: str) -> None:
    assert region("cn").match(text) is None


def test_other_regions_use_their_own_formats() -> None:
    assert region("br").match("ABC1D23") is not None  # Mercosul
    assert region("br").match("ABC1234") is not None
    assert region("br").match("AB12345") is None
    assert region("eu").match("RK878AC") is not None
    assert region("eu").match("STOP") is None  # words without a digit are not plates
    assert region("us").match("10DTM") is not None
    assert region("us").match("14845900") is None  # a phone number on a van, not a plate
    assert region("us").match("L80") is None  # a fragment of a slogan ("LAND OF LINCOLN")


# --- decoding --------------------------------------------------------------------------------


def ctc_probs(frames: list[str], vocab: list[str], sure: float = 0.9) -> np.ndarray:
    """A (T, V) matrix whose greedy reading is `frames` ('' = blank)."""
    probs = np.full((len(frames), len(vocab)), (1 - sure) / (len(vocab) - 1), np.float32)
    for t, ch in enumerate(frames):
        probs[t, vocab.index(ch or "<b>")] = sure
    return probs


VOCAB = ["<b>", *"皖京ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789·中国重汽"]


def decoder(name: str = "cn") -> PlateDecoder:
    return PlateDecoder(region(name), {c: i for i, c in enumerate(VOCAB) if i}, 0)


def test_decoder_reads_plate_through_separator_and_repeats() -> None:
    frames = ["", "皖", "", "A", "·", "1", "", "1", "2", "2", "", "2", "3", ""]
    got = decoder().decode(ctc_probs(frames, VOCAB))
    assert got is not None
    assert got.text == "皖A11223"  # repeated 1 and 2 need the blank between them
    assert len(got.char_conf) == 7 and min(got.char_conf) > 0.8


def test_decoder_skips_runs_of_sure_blanks_but_keeps_repeats_apart() -> None:
    # PP-OCR's output is mostly blank steps it is sure of; the search skips all but one of
    # each run, and that one still separates a repeated character (1 1, 2 2)
    plate = "皖A11223"
    frames = [f for ch in plate for f in (ch, "", "", "", "")]
    probs = ctc_probs(frames, VOCAB, sure=0.99995)
    probs[0, VOCAB.index("A")] = 0.5  # the best path is no plate: the full search runs
    probs[0, VOCAB.index("皖")] = 0.45
    probs /= probs.sum(axis=1, keepdims=True)
    dec = decoder()
    sub, blank = probs[:, dec.index], probs[:, dec.blank]
    assert dec._best_path(sub, blank, 0.0) is None
    assert int(_informative(blank).sum()) == 2 * len(plate)
    got = dec.decode(probs)
    assert got is not None and got.text == plate


def test_decoder_fixes_letter_digit_confusion_by_position() -> None:
    # The model prefers O in the 4th position of a Brazilian plate (LLL DDDD): the decoder
    # must take the best digit there (0), not print an O.
    frames = ["A", "", "B", "", "C", "", "O", "", "1", "", "2", "", "3", ""]
    probs = ctc_probs(frames, VOCAB)
    probs[6, VOCAB.index("0")] = 0.3
    got = decoder("br").decode(probs)
    assert got is not None and got.text == "ABC0123"


def test_decoder_prefers_a_national_format_where_a_character_is_in_doubt() -> None:
    # an Italian/French/Slovak plate ends in two letters; the model leans to 1 over I there
    frames = ["L", "", "M", "", "2", "", "9", "", "8", "", "A", "", "1", ""]
    probs = ctc_probs(frames, VOCAB)
    probs[12, VOCAB.index("I")] = 0.3
    probs[12, VOCAB.index("1")] = 0.6
    got = decoder("eu").decode(probs)
    assert got is not None and got.text == "LM298AI"
    # but a character the model is sure of is never overruled by the format
    frames[12] = "7"
    got = decoder("eu").decode(ctc_probs(frames, VOCAB))
    assert got is not None and got.text == "LM298A7"


def spelled(text: str) -> list[str]:
    """CTC frames spelling text, a blank after each character."""
    return [f for ch in text for f in (ch, "")]


def test_us_plates_write_the_letter_o_as_zero_but_words_stay_words() -> None:
    # most states print O and 0 alike; US labels (and DMV lookups) write 0
    got = decoder("us").decode(ctc_probs(spelled("ACOM7V"), VOCAB))
    assert got is not None and got.text == "AC0M7V"
    # a state name is checked as read, before O becomes 0: it has no digit, so no plate
    assert decoder("us").decode(ctc_probs(spelled("ARIZONA"), VOCAB)) is None
    # other regions keep the letter where their formats have one
    got = decoder("br").decode(ctc_probs(spelled("OUH9191"), VOCAB))
    assert got is not None and got.text == "OUH9191"


def test_eu_national_formats_take_o_and_zero_as_look_alikes() -> None:
    # a Croatian RK 550-AO: the model is sure of a 0 where the format has a letter
    got = decoder("eu").decode(ctc_probs(spelled("RK550A0"), VOCAB))
    assert got is not None and (got.text, got.template.name) == ("RK550AO", "ll_ddd_ll")
    # and of an O where it has a digit
    got = decoder("eu").decode(ctc_probs(spelled("RKO82AL"), VOCAB))
    assert got is not None and got.text == "RK082AL"
    # the letter I of a small Slovak RK-708AI, which both recognisers read as a 1
    got = decoder("eu").decode(ctc_probs(spelled("RK708A1"), VOCAB))
    assert got is not None and (got.text, got.template.name) == ("RK708AI", "ll_ddd_ll")
    # text that no national format fits stays as read (a Polish WA 56660)
    got = decoder("eu").decode(ctc_probs(spelled("WA56660"), VOCAB))
    assert got is not None and (got.text, got.template.name) == ("WA56660", "generic")


def test_decoder_says_where_along_the_line_each_character_was_read() -> None:
    frames = ["", "", "皖", "", "A", "A", "", "1", "", "2", "", "", "3", "4", "", "5", ""]
    dec = decoder()
    steps = [2, 4, 7, 9, 12, 13, 15]
    got = dec.decode(ctc_probs(frames, VOCAB))  # the best path spells the plate
    assert got is not None and got.text == "皖A12345"
    assert got.at == tuple(t / len(frames) for t in steps)
    probs = ctc_probs(frames, VOCAB, sure=0.99995)
    probs[7, VOCAB.index("京")] = 1.5  # the best path is no plate: the full search runs
    probs /= probs.sum(axis=1, keepdims=True)
    assert dec._best_path(probs[:, dec.index], probs[:, dec.blank], 0.0) is None
    got = dec.decode(probs)
    assert got is not None and got.text == "皖A12345"
    assert got.at == tuple(t / len(frames) for t in steps)


def test_two_readings_fused_keep_where_the_characters_were_read() -> None:
    # the emblem cut needs the positions of a fused reading too
    dec = decoder("eu")
    a = dec.decode(ctc_probs(spelled("HRK708A1"), VOCAB, sure=0.9))
    b = dec.decode(ctc_probs(spelled("HRK708AT"), VOCAB, sure=0.95))
    assert a is not None and b is not None
    fused = fuse(a, b)
    assert fused is not None and fused.text == "HRK708AT" and fused.at == a.at


@pytest.mark.parametrize("name", ["cn", "eu", "us"])
def test_best_path_shortcut_reads_what_the_full_search_reads(name: str) -> None:
    # where the unconstrained best path already spells a plate, decode() skips the search:
    # on noisy outputs both must give the same plate and confidences
    plate = {"cn": "皖AB1234", "eu": "LM298AI", "us": "10DTM"}[name]
    frames = [x for ch in plate for x in (ch, ch, "")]
    dec = decoder(name)
    rng = np.random.default_rng(5)
    shortcuts = 0
    for _ in range(200):
        probs = ctc_probs(frames, VOCAB, sure=0.6) + rng.dirichlet(
            np.full(len(VOCAB), 0.2), len(frames)
        )
        probs /= probs.sum(axis=1, keepdims=True)
        sub = probs[:, dec.index]
        blank = probs[:, dec.blank] + probs[:, dec.sep_index].sum(axis=1)
        full = dec._search(sub, blank, 0.0)
        fast = dec._best_path(sub, blank, 0.0)
        if fast is None:
            continue
        shortcuts += 1
        assert full is not None
        assert (fast.text, fast.template.name) == (full.text, full.template.name)
        assert fast.char_conf == pytest.approx(full.char_conf)
        assert fast.log_score == pytest.approx(full.log_score, abs=1e-3)
    assert shortcuts > 20


def test_decoder_gives_low_confidence_to_company_name() -> None:
    frames = ["中", "", "国", "", "重", "", "汽", "", "中", "", "国", "", "重", ""]
    got = decoder().decode(ctc_probs(frames, VOCAB))
    assert got is None or got.confidence < 0.1


def reading(text: str, conf: list[float], fmt: str = "standard") -> Decoded:
    template = next(t for t in region("cn").templates if t.name == fmt)
    return Decoded(text, tuple(conf), template, 0.0, 0.0)


def test_fuse_settles_one_disputed_character_by_confidence() -> None:
    # PP-OCR cannot read the small province, the plate model can: its province wins
    ppocr = reading("鄂A2U448", [0.2, 0.99, 0.98, 0.97, 0.99, 0.99, 0.99])
    plate = reading("皖A2U448", [0.97, 0.99, 0.9, 0.9, 0.9, 0.9, 0.9])
    fused = fuse(ppocr, plate)
    assert fused is not None and fused.text == "皖A2U448"
    assert fused.char_conf[0] == 0.97 and fused.char_conf[2] == 0.98
    # a guess does not replace a guess: the plate model must be at least half sure
    unsure = reading("皖A2U448", [0.3, 0.99, 0.9, 0.9, 0.9, 0.9, 0.9])
    fused = fuse(ppocr, unsure)
    assert fused is not None and fused.text == "鄂A2U448"
    # two disputed characters are two different plates: nothing is invented from them
    assert fuse(ppocr, reading("皖A2V448", [0.97, 0.99, 0.9, 0.9, 0.9, 0.9, 0.9])) is None
    # nor are readings of different layouts mixed
    assert fuse(ppocr, reading("皖AD12345", [0.9] * 8, "nev_small")) is None


def test_a_third_reading_settles_the_disputed_character_when_it_is_sure() -> None:
    # the plate model, trained mostly on 皖, is surer of 皖 than PP-OCRv4 is of the right 豫
    ppocr = reading("豫KMZ810", [0.58, 0.99, 0.99, 0.98, 0.99, 0.99, 0.99])
    plate = reading("皖KMZ810", [0.92, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    fused = fuse(ppocr, plate)
    assert fused is not None and fused.text == "皖KMZ810"
    newer = reading("豫KMZ810", [1.0] * 7)
    settled = settle(ppocr, plate, newer)
    assert settled is not None and settled.text == "豫KMZ810" and settled.char_conf[0] == 1.0
    # two unsure readings do not outvote a sure one
    assert settle(ppocr, plate, reading("豫KMZ810", [0.7] + [1.0] * 6)) is None
    # a referee that reads a third character there, or another plate length, has no vote
    assert settle(ppocr, plate, reading("鄂KMZ810", [1.0] * 7)) is None
    assert settle(ppocr, plate, reading("豫KMZ8100", [1.0] * 8, "nev_small")) is None


# --- real models -----------------------------------------------------------------------------


def test_outside_china_the_wheels_newer_recogniser_gives_a_second_opinion(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    auto = RecogniserConfig()
    us = recognise.resolve(auto, "us")
    assert [c.type for c in us] == ["ppocr-rec", "ppocr-rec"]
    assert us[1].path is not None and us[1].path.parent == recognise.rapidocr_wheel_models()
    assert [c.type for c in recognise.resolve(auto, "cn")] == ["ppocr-rec", "ctc"]
    # in region cn it is the referee of a character the two dispute
    cn_referee = recognise.referee(auto, "cn")
    assert cn_referee is not None and cn_referee.path == us[1].path
    assert recognise.referee(auto, "us") is None
    # without the PP-OCRv4 files the wheel's model reads first, and only once
    monkeypatch.setattr(recognise, "PPOCR_MOBILE", tmp_path)
    assert len(recognise.resolve(auto, "us")) == 1
    assert recognise.referee(auto, "cn") is None


def test_a_mark_left_of_a_european_plate_read_as_a_letter_is_cut_off() -> None:
    # a small grey mark where a coat of arms and country code sit: both recognisers read it as
    # an H, and HRK708AC fits no national format; the plate read from the gap after the H does
    plate = np.full((60, 300, 3), 235, np.uint8)
    cv2.rectangle(plate, (2, 2), (297, 57), (40, 40, 40), 2)
    cv2.putText(plate, "H", (6, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (80, 80, 80), 2)
    cv2.putText(plate, "RK 708AC", (32, 45), cv2.FONT_HERSHEY_DUPLEX, 1.3, (30, 30, 30), 2)
    got = PlateReader(PlatesConfig(region="eu")).read_crop(plate)
    assert got is not None and got.text == "RK708AC"


@pytest.mark.skipif(not (PLATES / "openalpr").is_dir(), reason="OpenALPR scenes not in ../shared")
@pytest.mark.parametrize(
    ("photo", "plate"), [("test_036.jpg", "RK708AI"), ("test_082.jpg", "RK641AL")]
)
def test_a_small_slovak_plate_is_read_without_its_coat_of_arms(photo: str, plate: str) -> None:
    # the pale arms and SK left of a 17 px plate were read as an H: HRK708A1, HRK641AL (the
    # second is the car parked behind the labelled one)
    image = cv2.imread(str(PLATES / "openalpr" / "eu" / photo))
    texts = [r.text for r in PlateReader(PlatesConfig(region="eu")).read(image)]
    assert plate in texts
    assert not any(t.endswith(plate[1:]) and t != plate for t in texts)


@pytest.mark.skipif(not (PLATES / "openalpr").is_dir(), reason="OpenALPR scenes not in ../shared")
def test_a_us_plate_pp_ocr_v4_misreads_is_settled_by_the_second_opinion() -> None:
    # PP-OCRv4 reads DL9EIU (I at 0.45); the newer recogniser reads the 1 surely
    image = cv2.imread(str(PLATES / "openalpr" / "us" / "wts-lg-000102.jpg"))
    reads = PlateReader(PlatesConfig(region="us")).read(image)
    assert [r.text for r in reads] == ["DL9E1U"]


def letterbox_1080p(photo: np.ndarray) -> np.ndarray:
    """A photo scaled to fit a 1920x1080 frame, centred on grey (as benchmarks/plates_1080p)."""
    h, w = photo.shape[:2]
    s = min(1920 / w, 1080 / h)
    small = cv2.resize(photo, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    frame = np.full((1080, 1920, 3), 110, np.uint8)
    y, x = (1080 - small.shape[0]) // 2, (1920 - small.shape[1]) // 2
    frame[y : y + small.shape[0], x : x + small.shape[1]] = small
    return frame


@pytest.mark.skipif(not (PLATES / "openalpr").is_dir(), reason="OpenALPR scenes not in ../shared")
def test_a_plate_only_the_second_recogniser_reads_must_be_sure() -> None:
    # the photo letterboxed into a 1080p frame: PP-OCRv4 reads nothing in the plate's rough
    # 640 px outline and PP-OCRv6 reads AX803 at 0.63; that reading kept the frame from the
    # larger pass that reads the plate
    frame = letterbox_1080p(cv2.imread(str(PLATES / "openalpr" / "us" / "car9-5.jpg")))
    reads = PlateReader(PlatesConfig(region="us")).read(frame)
    assert [r.text for r in reads] == ["AYX8803"]


@pytest.mark.skipif(not (PLATES / "easypr").is_dir(), reason="EasyPR scenes not in ../shared")
def test_a_reading_the_first_recogniser_did_not_pass_has_one_witness(reader: PlateReader) -> None:
    # PP-OCRv4 reads the TAXI roof sign above the car as 新RLTAXU at 0.04; the plate model's
    # 皖ABTAX1 at 0.62 passed min_confidence alone and was reported beside the real plates
    image = cv2.imdecode(
        np.fromfile(PLATES / "easypr" / "images" / "皖A85501.jpg", np.uint8), cv2.IMREAD_COLOR
    )
    texts = [r.text for r in reader.read(image)]
    assert "皖A85501" in texts
    assert "皖ABTAX1" not in texts


@pytest.mark.skipif(not (PLATES / "easypr").is_dir(), reason="EasyPR scenes not in ../shared")
def test_a_plate_the_plate_model_alone_reads_must_be_sure_in_every_character(
    reader: PlateReader,
) -> None:
    # a phone number on a red sign, cut by the photo's top edge: PP-OCRv4 reads 使521881 at
    # 0.07, the plate model 辽S25881 at 0.80 with its S at 0.34; reported, it kept the frame
    # from the larger pass that finds the coach's small plate
    image = imread(PLATES / "easypr" / "images" / "渝BE7773.jpg")
    assert [r.text for r in reader.read(image)] == ["渝BE7773"]


@pytest.mark.skipif(not (PLATES / "easypr").is_dir(), reason="EasyPR scenes not in ../shared")
def test_a_police_o_series_plate_is_read_with_its_letter_o(reader: PlateReader) -> None:
    # a large, sharp 粤O·A2160 (the O series of public-security cars): PP-OCRv4 reads the O as
    # the digit 0, which the letter's place does not take, and the plate was not read at all
    image = imread(PLATES / "easypr" / "images" / "粤OA2160.jpg")
    assert [(r.text, r.color) for r in reader.read(image)] == [("粤OA2160", "blue")]


@pytest.mark.skipif(not (PLATES / "easypr").is_dir(), reason="EasyPR scenes not in ../shared")
def test_a_blue_plate_read_as_two_rows_is_not_a_plate(reader: PlateReader) -> None:
    # a blue plate cut by the frame's right edge (湘A669..): PP-OCRv4 read its rows joined as
    # 皖AZA669 at 0.61; two-row plates are yellow, whichever recogniser reads them
    photo = cv2.imdecode(
        np.fromfile(PLATES / "easypr" / "images" / "湘A05H22.jpg", np.uint8), cv2.IMREAD_COLOR
    )
    assert [r.text for r in reader.read(letterbox_1080p(photo))] == ["湘A05H22"]


def test_without_the_mobile_models_the_rapidocr_wheel_models_are_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert recognise.rapidocr_model("det").name == "ch_PP-OCRv4_det_mobile.folded.onnx"
    monkeypatch.setattr(recognise, "PPOCR_MOBILE", tmp_path)
    fallback = recognise.rapidocr_model("det")
    assert fallback.is_file() and fallback.parent.parent.name == "rapidocr"
    assert "run scripts/install-models.sh" in caplog.text


def test_a_small_crop_is_enlarged_only_to_the_small_height() -> None:
    crop = imread(CROPS / "images" / "皖AX6996.jpg")  # 94 x 24 px
    assert crop.shape[0] <= 40
    steps = {}
    for small in (40, 0):
        cfg = RecogniserConfig(type="ppocr-rec", small_height=small)
        rec = Recogniser(cfg, ["cpu"], 1)
        probs = rec.probabilities([crop])[0]
        steps[small] = probs.shape[0]
        got = PlateDecoder(region("cn"), rec.vocab, rec.blank).decode(probs)
        assert got is not None and got.text == "皖AX6996"
    # PP-OCR emits one step per 8 px of input width: read at 40 px, not 48, the crop is narrower
    assert steps[40] == math.ceil(40 * 94 / 24 / 8) < steps[0] == math.ceil(48 * 94 / 24 / 8)
    # a model exported for one height (the wheel's PP-OCRv6, the second opinion outside China)
    # is fed that height whatever small_height says
    newer = recognise.resolve(RecogniserConfig(), "us")[1]
    rec = Recogniser(newer, ["cpu"], 1)
    assert rec.fixed_height == 48
    assert rec.probabilities([crop])[0].shape[0] == math.ceil(48 * 94 / 24 / 8)


def test_a_small_plate_in_a_large_frame_is_found_on_the_second_pass() -> None:
    plate = render_plate("皖A12345", "yellow")  # a colour the region does not search by
    frame = np.full((1080, 1920, 3), 90, np.uint8)
    frame[600:619, 900:960] = cv2.resize(plate, (60, 19), interpolation=cv2.INTER_AREA)
    one_pass = PlateReader(PlatesConfig.model_validate({"detector": {"retry_sizes": []}}))
    assert one_pass.read(frame) == []
    assert [r.text for r in PlateReader(PlatesConfig()).read(frame)] == ["皖A12345"]


def test_a_frame_without_a_plate_is_searched_at_each_retry_size_in_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reader = PlateReader(PlatesConfig())
    sizes: list[int] = []
    detect = reader.detector.detect

    def spy(image: np.ndarray, size: int = 0) -> list[Candidate]:
        sizes.append(size)
        return detect(image, size)

    monkeypatch.setattr(reader.detector, "detect", spy)
    road = np.full((1080, 1920, 3), 90, np.uint8)
    assert reader.read(road) == []
    assert sizes == [640, 960, 1280]  # the input size, then each retry size
    sizes.clear()
    # a camera's plate zone, the frame's left half, is searched at the frame's scale (a third
    # at 640 px, its 1080 px side at 360), every retry too: half the detector's pixels
    assert reader.read(road[:, :960], frame_side=1920) == []
    assert sizes == [360, 540, 720]
    sizes.clear()
    road[500:560, 800:990] = cv2.resize(render_plate("皖A12345", "blue"), (190, 60))
    assert [r.text for r in reader.read(road)] == ["皖A12345"]
    assert sizes == [640]  # a frame with a plate costs one pass
    # a small image is already enlarged by the first pass: an unreadable plate crop is not
    # searched again 10 and 14 times its size (250 ms for nothing); a 270 px photo still is
    sizes.clear()
    smeared = cv2.GaussianBlur(imread(CROPS / "images" / "皖AX6996.jpg"), (15, 15), 0)
    assert reader.read(smeared) == []
    assert sizes == [640]
    sizes.clear()
    assert reader.read(np.full((152, 270, 3), 90, np.uint8)) == []
    assert sizes == [640, 960, 1280]


def test_a_frames_reading_counts_every_candidate_read_over_its_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reader = PlateReader(PlatesConfig())
    counted: list[int] = []
    read = reader.read_candidates

    def spy(
        image: np.ndarray, candidates: list[Candidate], colour: bool | None = None
    ) -> list[PlateRead]:
        counted.append(len(candidates))
        return read(image, candidates, colour)

    monkeypatch.setattr(reader, "read_candidates", spy)
    road = np.full((1080, 1920, 3), 90, np.uint8)
    # painted text and no plate: every pass reads the text again
    cv2.putText(road, "SLOW DOWN 40", (600, 300), cv2.FONT_HERSHEY_SIMPLEX, 2.0, (255,) * 3, 4)
    frame = reader.read_frame(road)
    assert frame.reads == [] and len(counted) >= 3
    # ms per plate divides the reading time by this: all passes' candidates, not the last's
    assert frame.recognised == sum(counted) > len(frame.candidates)


def test_a_small_blue_plate_beside_a_read_one_is_found_by_its_colour() -> None:
    # a 1632 px photo: the near plate is read at 640 px, so there is no second pass, and the
    # far one, 18 px tall, leaves no trace in the detector's input
    frame = np.full((1224, 1632, 3), 90, np.uint8)
    frame[800:860, 700:890] = cv2.resize(render_plate("皖A88888", "blue"), (190, 60))
    frame[300:318, 1200:1258] = cv2.resize(
        render_plate("津AHP676", "blue"), (58, 18), interpolation=cv2.INTER_AREA
    )
    frame[500:560, 200:400] = (200, 80, 20)  # a blue van's side: too large to be a plate
    reader = PlateReader(PlatesConfig())
    assert sorted(r.text for r in reader.read(frame)) == ["津AHP676", "皖A88888"]
    blind = PlateReader(PlatesConfig())
    blind.region = dataclasses.replace(blind.region, search_colors=())
    assert [r.text for r in blind.read(frame)] == ["皖A88888"]


def test_colour_patches_are_plate_shaped_and_of_the_colours_sought() -> None:
    frame = np.full((600, 800, 3), 90, np.uint8)
    frame[100:118, 100:158] = cv2.resize(render_plate("津AHP676", "blue"), (58, 18))
    frame[300:318, 300:358] = cv2.resize(render_plate("津AHP676", "yellow"), (58, 18))
    frame[400:480, 500:580] = (200, 80, 20)  # square: no plate
    frame[200:204, 500:700] = (200, 80, 20)  # a stripe: no plate
    found = colour_patches(frame, ("blue",), 12, 40)
    assert len(found) == 1
    x1, y1, x2, y2 = found[0]
    assert abs(x1 - 100) <= 2 and abs(y1 - 100) <= 2 and abs(x2 - 158) <= 2 and abs(y2 - 118) <= 2
    assert len(colour_patches(frame, ("blue", "yellow"), 12, 40)) == 2
    assert colour_patches(frame, ("blue",), 24, 40) == []  # smaller than sought


@pytest.mark.parametrize(("angle", "found"), [(15, True), (-25, True), (50, False), (90, False)])
def test_a_turned_colour_patch_is_a_plate_up_to_a_limit(angle: float, found: bool) -> None:
    # turned 15 degrees, a 3.5:1 plate's upright box is under 2:1: the patch is measured along
    # its own edges; turned past PATCH_MAX_TURN it is a post or a pillar
    frame = np.full((600, 800, 3), 90, np.uint8)
    corners = cv2.boxPoints(((400, 300), (84, 24), angle)).astype(np.int32)
    cv2.fillPoly(frame, [corners], (200, 80, 20))
    patches = colour_patches(frame, ("blue",), 12, 40)
    assert len(patches) == (1 if found else 0)
    if found:
        x1, y1, x2, y2 = patches[0]
        assert x1 < 400 < x2 and y1 < 300 < y2


def test_a_colour_patch_as_tall_as_sought_is_found() -> None:
    # measured between its outer pixels' centres, a 12 px patch came out a pixel short on the
    # half-size working image, under the smallest height sought: a 13 px plate was lost
    frame = np.full((600, 800, 3), 90, np.uint8)
    frame[300:312, 400:445] = (200, 80, 20)
    assert len(colour_patches(frame, ("blue",), 12, 40)) == 1


def test_a_small_turned_plate_is_found_by_its_colour() -> None:
    # the photo of the test above, turned 15 degrees (a camera on a slope)
    frame = np.full((1224, 1632, 3), 90, np.uint8)
    frame[800:860, 700:890] = cv2.resize(render_plate("皖A88888", "blue"), (190, 60))
    frame[300:318, 1200:1258] = cv2.resize(
        render_plate("津AHP676", "blue"), (58, 18), interpolation=cv2.INTER_AREA
    )
    turned = cv2.warpAffine(
        frame, cv2.getRotationMatrix2D((816, 612), 15, 1.0), (1632, 1224), borderValue=(90,) * 3
    )
    assert sorted(r.text for r in PlateReader(PlatesConfig()).read(turned)) == [
        "津AHP676",
        "皖A88888",
    ]


def test_a_region_searching_an_unknown_colour_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "formats.yaml"
    bad.write_text(
        "classes: {digit: '0123456789'}\n"
        "regions:\n  xx:\n    search_colors: [purple]\n"
        "    formats: [{name: d, pattern: 'digit{5}'}]\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"regions\.xx\.search_colors.*purple"):
        load_regions(bad)


@pytest.mark.parametrize(
    "band", ["[0.5, 0.2]", "[0.2]", "[0.1, 1.5]", "middle", "[0.2, 0.8]\n    two_row: true"]
)
def test_a_text_band_that_is_not_two_shares_of_the_height_is_refused(
    tmp_path: Path, band: str
) -> None:
    bad = tmp_path / "formats.yaml"
    bad.write_text(
        "classes: {digit: '0123456789'}\n"
        f"regions:\n  xx:\n    text_band: {band}\n"
        "    formats: [{name: d, pattern: 'digit{5}'}]\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"regions\.xx\.text_band"):
        load_regions(bad)


def test_the_text_band_of_a_tilted_quad_follows_its_edges() -> None:
    quad = np.array([[10, 20], [110, 30], [110, 80], [10, 70]], np.float32)  # tl tr br bl
    got = band_quad(quad, (0.2, 0.8))
    assert np.allclose(got, [[10, 30], [110, 40], [110, 70], [10, 60]])


@pytest.mark.skipif(not (PLATES / "openalpr").is_dir(), reason="OpenALPR scenes not in ../shared")
@pytest.mark.parametrize(
    ("photo", "plate"), [("wts-lg-000046.jpg", "BFN8484"), ("wts-lg-000033.jpg", "PK2V6M")]
)
def test_a_us_plate_is_also_read_between_its_state_name_and_slogan(photo: str, plate: str) -> None:
    # read whole, with TEXAS above the characters, BFN-8484 came out as N848A4, and PK2V6M as
    # PK2VGM (sure of the G); the band between name and slogan reads both right
    image = cv2.imread(str(PLATES / "openalpr" / "us" / photo))
    assert [r.text for r in PlateReader(PlatesConfig(region="us")).read(image)] == [plate]


@pytest.mark.parametrize("angle", [0, 20, 35, 50, -35])
def test_a_rotated_line_keeps_its_width_along_the_text(angle: float) -> None:
    corners = cv2.boxPoints(((300, 200), (200, 60), angle))
    quad = order_quad(corners)
    w, h = quad_size(quad)
    assert (round(w), round(h)) == (200, 60)
    assert quad[1][0] > quad[0][0]  # the top edge runs left to right
    # a column of text (vertical signage) stays upright: too narrow to be a plate
    column = order_quad(cv2.boxPoints(((300, 200), (200, 60), 80)))
    assert quad_size(column)[0] < quad_size(column)[1]


def test_a_plate_rotated_35_degrees_is_read(reader: PlateReader) -> None:
    # CCPD's "rotate" photos: a phone held at an angle to the car
    frame = np.full((720, 720, 3), 90, np.uint8)
    frame[330:390, 260:450] = cv2.resize(render_plate("皖A060T2", "blue"), (190, 60))
    turn = cv2.getRotationMatrix2D((355, 360), 35, 1.0)
    rotated = cv2.warpAffine(frame, turn, (720, 720), borderValue=(90, 90, 90))
    assert [r.text for r in reader.read(rotated)] == ["皖A060T2"]


def test_a_large_pass_is_cut_in_tiles_and_a_plate_on_a_tile_edge_is_read_once() -> None:
    # 1920x1080 at 1280 px: two tiles, each detector input at most TILE px a side (memory)
    spans = tiles(1920, 1080, 1280 / 1920)
    assert len(spans) == 2
    assert all(max(x1 - x0, y1 - y0) * 1280 / 1920 <= TILE for x0, y0, x1, y1 in spans)
    edge = spans[0][2]  # the first tile ends inside the second
    frame = np.full((1080, 1920, 3), 90, np.uint8)
    small = cv2.resize(render_plate("皖A12345", "blue"), (60, 19), interpolation=cv2.INTER_AREA)
    frame[600:619, edge - 30 : edge + 30] = small
    reads = PlateReader(PlatesConfig()).read(frame)
    assert [r.text for r in reads] == ["皖A12345"]
    x1, _, x2, _ = reads[0].box
    assert x1 <= edge - 30 and x2 >= edge + 30  # the whole plate, not the piece one tile saw


def test_a_small_plate_whose_outline_cut_off_its_province_is_read_from_a_closer_look(
    reader: PlateReader,
) -> None:
    frame = np.full((1080, 1920, 3), 90, np.uint8)
    frame[500:532, 800:900] = cv2.resize(render_plate("皖A12345", "blue"), (100, 32))
    # the rough outline a 640 px pass gives a plate 11 px tall: the province is left out
    cut = Candidate(
        np.array([[832, 500], [902, 500], [902, 532], [832, 532]], np.float32), 0.9, False
    )
    assert reader.read_candidates(frame, [cut]) == []
    reads, _, looked = reader._refine(frame, [cut], [], 640, colour=True)
    assert [r.text for r in reads] == ["皖A12345"]
    assert looked >= 1  # the closer look's candidates count among those recognised
    # a candidate large enough at the detector's scale keeps its outline: no second look
    assert reader._refine(frame, [cut], [], 1920, colour=True)[0] == []


def test_a_closer_look_that_reads_more_of_the_plate_replaces_the_rough_reading() -> None:
    us = PlateReader(PlatesConfig(region="us"))
    frame = np.full((1080, 1920, 3), 90, np.uint8)
    frame[500:532, 800:900] = cv2.resize(render_plate("7AWV401", "white"), (100, 32))
    # a rough outline that left out the first character still spells a US plate
    cut = Candidate(
        np.array([[818, 500], [902, 500], [902, 532], [818, 532]], np.float32), 0.9, False
    )
    rough = us.read_candidates(frame, [cut])
    assert [r.text for r in rough] == ["AWV401"]
    reads, _, _ = us._refine(frame, [cut], rough, 640, colour=True)
    assert [r.text for r in reads] == ["7AWV401"]


def test_only_regions_with_two_row_plates_read_a_squarish_plate_as_two_rows() -> None:
    us_plate = cv2.resize(render_plate("7AWV401", "white"), (120, 60))  # 2:1, as US plates are
    assert [r.text for r in PlateReader(PlatesConfig(region="us")).read(us_plate)] == ["7AWV401"]
    truck = render_plate("鲁B12345", "yellow", two_row=True)
    assert [r.text for r in PlateReader(PlatesConfig(region="cn")).read(truck)] == ["鲁B12345"]


def test_reads_held_out_ccpd_crops(reader: PlateReader) -> None:
    # the quarter of the crops the plate-cn model never saw in training (models/plate_rec)
    with (CROPS / "labels.csv").open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if is_holdout(r["file"])]
    exact = wrong = 0
    for row in rows:
        got = reader.read_crop(imread(CROPS / "images" / row["file"]))
        exact += got is not None and got.text == row["plate"]
        wrong += got is not None and got.text != row["plate"]
    assert len(rows) > 150
    assert exact >= 0.95 * len(rows)
    # a plate the model is unsure of is dropped, not guessed: wrong plates are rarer still
    assert wrong <= 0.04 * len(rows)


def test_the_referee_gives_a_plate_its_province_back(reader: PlateReader) -> None:
    # PP-OCRv4 reads 豫 at 0.58, the plate model 皖 at 0.92; the wheel's PP-OCR is sure of 豫
    got = reader.read_crop(imread(CROPS / "images" / "豫KMZ810.jpg"))
    assert got is not None and got.text == "豫KMZ810"


def pp_ocr_reads(reader: PlateReader, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many crops the chain's first recogniser (PP-OCRv4) is given, call by call."""
    first = reader.stages[0][0]
    calls: list[int] = []
    real = first.probabilities

    def counted(crops: list[np.ndarray]) -> list[np.ndarray]:
        calls.append(len(crops))
        return real(crops)

    monkeypatch.setattr(first, "probabilities", counted)
    return calls


def test_a_crop_the_plate_model_is_sure_of_is_not_read_again(
    reader: PlateReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a held-out 皖 crop: the plate model reads every character at >= 0.998 (about 1 ms);
    # PP-OCR (about 9 ms) is not asked, and without the fast path it reads the same
    crop = imread(CROPS / "images" / "皖HLE188.jpg")
    calls = pp_ocr_reads(reader, monkeypatch)
    got = reader.read_crop(crop)
    assert got is not None and got.text == "皖HLE188"
    assert calls == []
    slow = PlateReader(PlatesConfig(crop_trust=1.0)).read_crop(crop)
    assert slow is not None and slow.text == "皖HLE188"


def test_a_crop_is_judged_on_its_own_pixels_and_its_colour_once(
    reader: PlateReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a frame is judged on a 160x90 sample; a 94x24 crop on itself, not enlarged to it
    crop = imread(CROPS / "images" / "皖HLE188.jpg")
    scene = imread(sorted((SCENES / "images").glob("*.jpg"))[0])
    assert sampled(crop, LEVELS_SAMPLE) is crop
    assert sampled(scene, LEVELS_SAMPLE).shape[:2] == (LEVELS_SAMPLE[1], LEVELS_SAMPLE[0])
    # checking a crop's reading, keeping it and reporting its colour judge the camera's colour
    # once, and a look at the crop judges as the crop itself does
    seen: list[str | None] = []
    judge = color.classify_color

    def counted(image: np.ndarray) -> str | None:
        seen.append(judge(image))
        return seen[-1]

    monkeypatch.setattr(color, "classify_color", counted)
    assert [(r.text, r.color) for r in reader.read(crop)] == [("皖HLE188", "blue")]
    assert seen == ["blue"]
    for name in ("皖CQ8788", "皖HLE188"):
        image = imread(CROPS / "images" / f"{name}.jpg")
        look = PlateLook(image)
        assert crop_colour(look) == crop_colour(image)
        assert plate_colour(look, STANDARD) == plate_colour(image, STANDARD)


def test_a_blue_crop_in_a_teal_cast_is_not_held_to_green(
    reader: PlateReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    # held-out crops of a CCPD camera with a teal cast: the camera's colour is green, which no
    # 7-character plate is issued in, but the characters are lighter than the plate: blue
    # plates, read by the plate model alone (as a crop, and as an image); a real green
    # (new-energy) plate has dark characters and stays green
    for name in ("皖CQ8788", "皖AS896V"):
        crop = imread(CROPS / "images" / f"{name}.jpg")
        assert classify_color(crop) == "green" and crop_colour(crop) is None
        calls = pp_ocr_reads(reader, monkeypatch)
        got = reader.read_crop(crop)
        assert got is not None and (got.text, got.color) == (name, "blue")
        assert [(r.text, r.color) for r in reader.read(crop)] == [(name, "blue")]
        assert calls == []
    green = cv2.resize(render_plate("皖AD12345", "green"), (120, 35), interpolation=cv2.INTER_AREA)
    assert crop_colour(green) == "green"


def test_a_province_the_plate_model_saw_only_rendered_is_read_by_the_whole_chain(
    reader: PlateReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the plate model reads this held-out crop as 苏J2K181 at 0.998 in every character; it
    # learnt 苏 from 5 real crops, so PP-OCR reads it too and the plate keeps its 浙
    calls = pp_ocr_reads(reader, monkeypatch)
    got = reader.read_crop(imread(CROPS / "images" / "浙J2K181.jpg"))
    assert got is not None and got.text == "浙J2K181"
    assert calls == [1]


def test_scene_candidates_are_read_by_pp_ocr_first(
    reader: PlateReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    # painted text on a scene is kept out by PP-OCR reading first; the fast path is for crops
    row = scene_labels()[0]
    calls = pp_ocr_reads(reader, monkeypatch)
    frame = reader.read_frame(imread(SCENES / "images" / row["file"]))
    assert row["plate"] in [r.text for r in frame.reads]
    assert calls[0] == len(frame.candidates)  # every candidate of the pass, plate included


def test_the_provinces_a_plate_model_learnt_come_from_its_card(tmp_path: Path) -> None:
    model = tmp_path / "plates.onnx"
    assert recognise.learnt_firsts(model) is None  # no card: no limit
    card = model.with_suffix(".json")
    card.write_text(json.dumps({"real_train_first": {"皖": 504, "苏": 5}}), encoding="utf-8")
    assert recognise.learnt_firsts(model) == frozenset({"皖"})
    card.write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match=r"plates\.json"):
        recognise.learnt_firsts(model)
    shipped = recognise.learnt_firsts(recognise.PLATE_CN)
    assert shipped == frozenset({"皖"})


@pytest.mark.parametrize(
    ("text", "color", "two_row"),
    [
        ("京N8P8F7", "blue", False),
        ("苏E7Z3K9", "yellow", False),
        ("豫C88516", "yellow", True),
        ("粤BD12345", "green", False),
        ("川A12345F", "yellow-green", False),
        ("鲁A1234挂", "yellow", False),
        ("沪A0613警", "white", False),
    ],
)
def test_reads_every_plate_series(
    reader: PlateReader, text: str, color: str, two_row: bool
) -> None:
    plate = render_plate(text, color, two_row)
    h, w = plate.shape[:2]
    small = cv2.resize(plate, (w * 60 // h, 60) if two_row else (w * 30 // h, 30), cv2.INTER_AREA)
    got = reader.read_crop(small, two_row=two_row)
    assert got is not None and got.text == text


@pytest.mark.parametrize("text", ["豫C88516", "鲁A1234挂"])
def test_two_row_truck_plate_is_found_stacked_and_read(reader: PlateReader, text: str) -> None:
    # the rear plate of a truck: province and letter above, five characters below
    plate = cv2.resize(render_plate(text, "yellow", two_row=True), (160, 80), cv2.INTER_AREA)
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[200:280, 250:410] = plate
    reads = reader.read(frame)
    assert [(r.text, r.color) for r in reads] == [(text, "yellow")]


@pytest.mark.parametrize(("text", "height"), [("冀E7K310", 70), ("鄂U56287", 70)])
def test_two_row_plate_whose_top_row_is_not_found_is_read_from_its_bottom_row(
    reader: PlateReader, text: str, height: int
) -> None:
    # in a parking-lot photo the detector finds the five large characters of a truck's rear
    # plate but not its small province and letter above: the plate is outlined from its
    # bottom row and read whole; the car's own blue plate is still read
    scene = sorted((SCENES / "images").glob("*.jpg"))[0]
    frame = imread(scene)
    plate = cv2.resize(
        render_plate(text, "yellow", two_row=True), (2 * height, height), cv2.INTER_AREA
    )
    frame[150 : 150 + height, 60 : 60 + 2 * height] = plate
    frame[150 : 150 + height, 60 : 60 + 2 * height] = cv2.GaussianBlur(
        frame[150 : 150 + height, 60 : 60 + 2 * height], (3, 3), 0
    )
    lines = [c for c in reader.detector.detect(frame) if c.box[1] < 150 + height]
    assert lines and not any(c.two_row for c in lines)  # the top row is not found
    own = {r["plate"] for r in scene_labels() if r["file"] == scene.name}
    reads = {(r.text, r.color) for r in reader.read(frame)}
    assert reads == {(text, "yellow"), *((p, "blue") for p in own)}


def test_a_two_row_plate_outlined_from_its_bottom_row_ends_at_the_plate_top(
    reader: PlateReader,
) -> None:
    # TOP_ROW_SHARE: join_rows cuts the top row from the outline's top 42 %, so the outline
    # must start at about the top row's characters (15 mm of the plate's 220) and end at the
    # plate's bottom edge
    plate = cv2.resize(render_plate("豫C88516", "yellow", two_row=True), (240, 120))
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[200:320, 200:440] = plate
    bottom = [c for c in reader.detector.detect(frame) if not c.two_row and c.box[1] > 230]
    assert len(bottom) == 1
    whole = above_bottom_row(bottom[0].quad)
    top_row = 200 + 120 * 15 / 220
    assert top_row - 0.1 * 120 < float(whole[:2, 1].mean()) < top_row + 0.1 * 120
    assert abs(float(whole[2:, 1].mean()) - 320) < 0.06 * 120


def test_reads_scene_with_box_and_colour(reader: PlateReader) -> None:
    rows = [r for r in scene_labels() if r["plate"] == "皖AY766D"] or scene_labels()[:1]
    row = rows[0]
    reads = reader.read(imread(SCENES / "images" / row["file"]))
    assert [r.text for r in reads] == [row["plate"]]
    x1, y1, x2, y2 = reads[0].box
    cx, cy = (int(row["x1"]) + int(row["x2"])) / 2, (int(row["y1"]) + int(row["y2"])) / 2
    assert x1 < cx < x2 and y1 < cy < y2
    assert reads[0].color == "blue"
    assert len(reads[0].char_conf) == 7


def test_a_tilted_plate_on_a_coloured_car_keeps_its_colour() -> None:
    # the plate model's readings must fit their format's colour: it is taken from the
    # perspective-corrected crop, not the upright box, which here is half green car
    plate_cn = PlateReader(PlatesConfig.model_validate({"recogniser": {"type": "plate-cn"}}))
    plate = cv2.resize(render_plate("皖A7Z3K9", "blue"), (200, 64), interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640, 3), (60, 140, 60), np.uint8)
    frame[200:264, 220:420] = plate
    tilted = cv2.warpAffine(
        frame, cv2.getRotationMatrix2D((320, 232), 15, 1.0), (640, 480), borderValue=(60, 140, 60)
    )
    assert [(r.text, r.color) for r in plate_cn.read(tilted)] == [("皖A7Z3K9", "blue")]


def test_blue_ccpd_plates_that_look_green_yellow_or_black_are_reported_blue(
    reader: PlateReader,
) -> None:
    # glare turns a blue plate cyan (classified green), a colour cast turns one olive
    # (yellow), dusk turns one black; their characters are lighter than the plate and a
    # seven-character plate is never green: every CCPD crop here is a blue car plate
    seen = {"皖A0K782.jpg": "green", "皖A1X751.jpg": "yellow", "皖A33673.jpg": "black"}
    for name, looks in seen.items():
        crop = imread(CROPS / "images" / name)
        assert classify_color(crop) == looks
        got = reader.read_crop(crop)
        assert got is not None and (got.text, got.color) == (name[:-4], "blue")


def cast(plate: np.ndarray, bgr: tuple[float, float, float], lift: float = 0.0) -> np.ndarray:
    small = cv2.resize(plate, None, fx=0.3, fy=0.3, interpolation=cv2.INTER_AREA)
    tinted = small.astype(np.float32) * np.array(bgr, np.float32) + lift
    return cv2.GaussianBlur(np.clip(tinted, 0, 255).astype(np.uint8), (3, 3), 0)  # a lens


STANDARD = ("blue", "yellow", "black")  # the colours formats.yaml issues 皖A12345 in


def test_a_plate_in_a_colour_cast_reports_a_colour_its_format_is_issued_in() -> None:
    yellow_in_blue_light = cast(render_plate("皖A12345", "yellow"), (1.4, 1.0, 0.7))
    assert classify_color(yellow_in_blue_light) == "green"
    assert plate_colour(yellow_in_blue_light, STANDARD) == "yellow"
    glaring_green = cast(render_plate("皖AD12345", "green"), (1.0, 1.0, 1.0), 80)
    assert classify_color(glaring_green) == "white"
    assert plate_colour(glaring_green, ("green",)) == "green"
    police_in_blue_light = cast(render_plate("京A1234警", "white"), (1.4, 1.0, 0.7))
    assert classify_color(police_in_blue_light) == "blue"
    assert plate_colour(police_in_blue_light, ("yellow", "white", "black")) == "white"


def test_a_dark_grey_plate_with_light_characters_is_black_a_dark_blue_one_blue() -> None:
    black = cast(render_plate("粤Z1234港", "black"), (1.0, 1.0, 1.0))
    dark_blue = cast(render_plate("皖A12345", "blue"), (0.3, 0.3, 0.3))
    assert plate_colour(black, STANDARD) == "black"
    assert classify_color(dark_blue) == "black"
    assert plate_colour(dark_blue, STANDARD) == "blue"
    # a format that says nothing of colour reports the camera's colour as it is
    assert plate_colour(dark_blue, None) == classify_color(dark_blue)


@pytest.mark.parametrize("shear", [0.2, 0.3, -0.4])
def test_a_leaning_line_is_set_upright(shear: float) -> None:
    plate = cv2.resize(render_plate("皖A12345", "blue"), (150, 48), interpolation=cv2.INTER_AREA)
    shift = np.float32([[1, shear, 20 - shear * 24], [0, 1, 0]])
    leaning = cv2.warpAffine(plate, shift, (190, 48), borderMode=cv2.BORDER_REPLICATE)
    assert lean(leaning) == pytest.approx(-shear)
    assert lean(upright(leaning)) == 0.0
    assert upright(plate) is plate  # an upright line is read as it is


def test_a_plate_seen_from_beside_the_lane_is_read_with_its_characters_upright(
    reader: PlateReader,
) -> None:
    # the plate's line slopes down 19 degrees; turned level, its characters lean as much,
    # and were read as 皖ADN718
    row = next(r for r in scene_labels() if r["plate"] == "皖A0N718")
    photo = imread(SCENES / "images" / row["file"])
    h, w = photo.shape[:2]
    slope = np.float32([[1, 0, 0], [0.35, 1, -0.35 * w / 2]])
    side = cv2.warpAffine(photo, slope, (w, h), borderMode=cv2.BORDER_REPLICATE)
    assert [r.text for r in reader.read(side)] == ["皖A0N718"]


def test_a_steep_lean_is_read_from_the_characters_edges_where_the_column_profile_finds_none(
    reader: PlateReader,
) -> None:
    # an official CCPD "tilt" sample (the authors drew its outline on it): the plate is seen
    # from low and beside it, its blurred characters lean 29 degrees, the column profile found
    # no lean, and the line read nothing upright or not
    photo = imread(SCENES / "unlabeled" / "tilt" / "tilt0.jpg")
    assert [r.text for r in reader.read(photo)] == ["皖AW391L"]
    plate = cv2.resize(render_plate("皖A12345", "blue"), (150, 48), interpolation=cv2.INTER_AREA)
    shift = np.float32([[1, 0.45, 20 - 0.45 * 24], [0, 1, 0]])
    leaning = cv2.warpAffine(plate, shift, (190, 48), borderMode=cv2.BORDER_REPLICATE)
    assert edge_slant(leaning) == pytest.approx(-0.45)
    assert edge_slant(plate) == 0.0
    blank = np.full((48, 150, 3), 90, np.uint8)  # no edges: no lean, and none made up
    assert lean(blank) == edge_slant(blank) == 0.0
    assert upright(blank) is blank


def test_a_text_block_shaped_like_a_two_row_plate_is_also_read_as_two_rows() -> None:
    block = np.array([[100, 100], [260, 100], [260, 190], [100, 190]], np.float32)
    wide = np.array([[100, 300], [400, 300], [400, 360], [100, 360]], np.float32)
    cands = group_lines([Candidate(block, 0.9, False), Candidate(wide, 0.9, False)], 8)
    assert sorted((c.box, c.two_row) for c in cands) == [
        ((100, 100, 260, 190), False),
        ((100, 100, 260, 190), True),
        ((100, 300, 400, 360), False),
    ]


def test_a_plate_outline_is_cut_back_from_a_date_stamp_under_it() -> None:
    # EasyPR 湘F8ZS83: the detector's margin around the plate's characters took in the top of
    # the camera's date stamp, and the F was read as an E
    def line(x1: int, y1: int, x2: int, y2: int) -> Candidate:
        quad = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float32)
        return Candidate(quad, 0.9, False)

    plate, stamp = line(1168, 795, 1481, 898), line(1132, 864, 1373, 926)
    far = line(100, 100, 300, 160)  # a line beside nothing keeps its outline
    got = {c.box: c for c in group_lines([plate, stamp, far], 8) if not c.two_row}
    plate_box = next(b for b in got if b[0] == 1168)
    stamp_box = next(b for b in got if b[0] == 1132)
    assert plate_box[1] == 795 and 868 <= plate_box[3] <= 878  # characters end near 866
    assert stamp_box[3] == 926 and stamp_box[1] >= 868
    assert (100, 100, 300, 160) in got
    # a turned line's upright box says little of what is above or below it: left whole
    turned = Candidate(order_quad(cv2.boxPoints(((1250, 800), (300, 60), 30))), 0.9, False)
    kept = [c for c in group_lines([turned, stamp], 8) if not c.two_row]
    assert any(np.allclose(c.quad, turned.quad) for c in kept)


def test_a_line_longer_than_any_plate_is_not_a_candidate() -> None:
    # an EU plate with the detector's margins is about 5:1; a 10:1 line is a banner or a plate
    # run into other text, and reading it costs as much as four plates
    eu = np.array([[100, 100], [360, 100], [360, 152], [100, 152]], np.float32)
    banner = np.array([[100, 300], [700, 300], [700, 360], [100, 360]], np.float32)
    cands = group_lines([Candidate(eu, 0.9, False), Candidate(banner, 0.9, False)], 8)
    assert [c.box for c in cands] == [(100, 100, 360, 152)]


def test_painted_text_and_empty_road_are_not_plates(reader: PlateReader) -> None:
    frame = np.full((720, 1280, 3), 70, np.uint8)
    cv2.rectangle(frame, (200, 200), (1100, 420), (240, 240, 240), -1)  # a truck's side
    cv2.putText(
        frame, "EXPRESS LOGISTICS", (230, 340), cv2.FONT_HERSHEY_SIMPLEX, 2.5, (0, 0, 200), 6
    )
    assert reader.read(frame) == []
    assert reader.read(np.full((720, 1280, 3), 90, np.uint8)) == []


def test_cars_without_a_plate_give_no_reading(reader: PlateReader) -> None:
    # CCPD's "np" samples: car fronts with the plate taken off. The plate model read the
    # four rings of a dark grille, joined as two rows, as the black plate 皖A6RLUU (0.96)
    photos = sorted((SCENES / "unlabeled" / "np").glob("*.jpg"))
    assert len(photos) == 6
    assert {p.name: reader.read(imread(p)) for p in photos} == {p.name: [] for p in photos}


def test_a_two_row_reading_needs_a_two_row_plate_colour() -> None:
    reading = decoder().decode(ctc_probs(["皖", "", "A", "1", "", "2", "3", "4", "5"], VOCAB))
    assert reading is not None and reading.text == "皖A12345"
    assert issued_in(reading, "black") and issued_in(reading, "yellow", ("yellow",))
    assert not issued_in(reading, "black", ("yellow",))
    assert issued_in(reading, None, ("yellow",))  # night: the colour is unknown
    assert not issued_in(reading, "white")  # a standard plate is never white


def test_models_are_named_with_sha256(reader: PlateReader) -> None:
    models = reader.models()
    assert set(models) == {
        "ch_PP-OCRv4_det_mobile.folded.onnx",
        "ch_PP-OCRv4_rec_mobile.folded.onnx",
        "plate_rec_cn.onnx",
        "PP-OCRv6_rec_small.onnx",  # the referee
    }
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in models.values())


@pytest.mark.skipif(not HYPERLPR.is_file(), reason="HyperLPR3 detector not in ../shared")
def test_yolo_plate_detector_feeds_the_recogniser() -> None:
    cfg = PlatesConfig.model_validate({"detector": {"type": "yolo-plate", "path": HYPERLPR}})
    yolo = PlateReader(cfg)
    rows = scene_labels()[:6]
    found = sum(
        row["plate"] in [r.text for r in yolo.read(imread(SCENES / "images" / row["file"]))]
        for row in rows
    )
    assert found >= 4


@pytest.mark.skipif(
    not HYPERLPR.is_file() or not (PLATES / "easypr").is_dir(),
    reason="HyperLPR3 detector or EasyPR scenes not in ../shared",
)
def test_a_glaring_blue_plate_with_thick_characters_is_reported_blue() -> None:
    # cut by the HyperLPR3 detector's corners, the white characters are the larger class of
    # grey: they looked like dark characters on a light plate, with no tint, and the plate
    # was reported yellow; the camera's blue, a colour the format is issued in, stands
    cfg = PlatesConfig.model_validate({"detector": {"type": "yolo-plate", "path": HYPERLPR}})
    reads = PlateReader(cfg).read(imread(PLATES / "easypr" / "images" / "川AGU801.jpg"))
    assert [(r.text, r.color) for r in reads] == [("川AGU801", "blue")]


# --- errors and config -----------------------------------------------------------------------


def test_missing_or_corrupt_model_names_its_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.onnx"
    with pytest.raises(ModelError, match=r"nope\.onnx"):
        PlateReader(PlatesConfig.model_validate({"recogniser": {"path": missing}}))
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07not a model" * 100)
    with pytest.raises(ModelError, match=r"corrupt\.onnx"):
        PlateReader(PlatesConfig.model_validate({"detector": {"path": corrupt}}))


def test_config_rejects_typos_and_unknown_regions() -> None:
    with pytest.raises(ValidationError, match="regon"):
        PlatesConfig.model_validate({"regon": "cn"})
    with pytest.raises(ValidationError, match="unknown region"):
        PlatesConfig.model_validate({"region": "mars"})
    with pytest.raises(ValidationError, match="charset"):
        PlatesConfig.model_validate({"recogniser": {"type": "ctc", "path": "m.onnx"}})
    with pytest.raises(ValidationError, match="retry sizes grow"):
        PlatesConfig.model_validate({"detector": {"retry_sizes": [1280, 960]}})


# --- vote ------------------------------------------------------------------------------------


def _read(text: str, conf: float = 0.9) -> PlateRead:
    return PlateRead(text, "blue", conf, (10, 10, 100, 40), (conf,) * len(text))


def test_vote_takes_each_character_from_the_majority() -> None:
    got = vote([_read("皖A12345"), _read("皖A12845"), _read("皖A12345")], "cn")
    assert got is not None and got.text == "皖A12345"
    assert got.char_conf[4] == pytest.approx(0.6)  # 2 of 3 frames agree on "3"
    assert got.char_conf[0] == pytest.approx(0.9)


def test_vote_ignores_reads_outside_the_region_formats() -> None:
    assert vote([_read("中国重汽"), _read("HELLO")], "cn") is None
    got = vote([_read("ABC1234"), _read("中国重汽")], "br")
    assert got is not None and got.text == "ABC1234"


# --- CLI -------------------------------------------------------------------------------------


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    plates_cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_cli_reports_unreadable_image_and_reads_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    row = next(r for r in scene_labels() if r["plate"] == "皖AY766D")
    good = SCENES / "images" / row["file"]
    assert run_cli(["plates", "read", str(bad), str(good), "--json"]) == 1
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert "broken.jpg" in err
    assert lines[0]["file"] == str(bad) and "error" in lines[0]
    assert lines[1]["file"] == str(good)
    assert [p["text"] for p in lines[1]["plates"]] == ["皖AY766D"]
    assert set(lines[1]["plates"][0]) == {"text", "color", "confidence", "box"}
    assert lines[1]["ms"] > 0


def test_cli_reads_tight_plate_crops_whole(capsys: pytest.CaptureFixture[str]) -> None:
    # a crop cut by another system is read as one plate, not searched for text inside
    with (CROPS / "labels.csv").open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if is_holdout(r["file"])][:40]
    paths = [str(CROPS / "images" / r["file"]) for r in rows]
    assert run_cli(["plates", "read", *paths, "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    read = {Path(x["file"]).name: [p["text"] for p in x["plates"]] for x in lines}
    exact = sum(read[r["file"]] == [r["plate"]] for r in rows)
    assert exact >= 0.92 * len(rows)
    first = next(x for x in lines if x["plates"])["plates"][0]["box"]
    assert first[:2] == [0, 0]  # the whole image is the plate


def test_eu_coat_of_arms_is_blanked_and_the_text_kept() -> None:
    plate = np.full((48, 240, 3), 235, np.uint8)
    cv2.rectangle(plate, (6, 6), (24, 30), (40, 40, 210), -1)  # red shield with a blue base
    cv2.rectangle(plate, (6, 22), (24, 30), (200, 60, 30), -1)
    cv2.putText(plate, "SK", (6, 44), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (20, 20, 20), 1)
    cv2.putText(plate, "RK082AL", (36, 38), cv2.FONT_HERSHEY_SIMPLEX, 1.1, (20, 20, 20), 2)
    out = blank_emblems(plate)
    assert int(np.abs(out[:, :26].astype(int) - 235).max()) < 20  # arms and "SK" are background
    assert np.array_equal(out[:, 40:], plate[:, 40:])  # the registration is untouched
    yellow = np.full((48, 240, 3), (30, 190, 230), np.uint8)  # a coloured plate is left whole
    assert np.array_equal(blank_emblems(yellow), yellow)


def test_a_band_sliver_is_blanked_but_not_the_letter_beside_it() -> None:
    # a tight text box keeps a sliver of the blue EU band; the first letter's colour fringes
    # join it when closed, but the letter must stay
    plate = np.full((48, 240, 3), 235, np.uint8)
    plate[:, :5] = (200, 60, 30)
    cv2.rectangle(plate, (12, 8), (26, 40), (20, 20, 20), -1)  # the letter
    plate[8:40:3, 10:12] = (40, 40, 210)  # sparse red fringe on its left edge
    out = blank_emblems(plate)
    assert int(np.abs(out[:, :5].astype(int) - 235).max()) < 20  # the band is background
    assert np.array_equal(out[:, 12:27], plate[:, 12:27])  # the letter is untouched


def gray(image: np.ndarray) -> np.ndarray:
    """The frame as an infrared or monochrome camera gives it: grey in three channels."""
    return cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)


def test_a_frame_without_colour_is_told_from_a_dim_colour_photo() -> None:
    scene = imread(sorted((SCENES / "images").glob("*.jpg"))[0])
    assert colourless(gray(scene)) and colourless(gray(scene)[:, :, 0])
    assert not colourless(scene)


@pytest.mark.skipif(not (PLATES / "easypr").is_dir(), reason="EasyPR scenes not in ../shared")
def test_a_dim_night_photo_still_has_colour() -> None:
    # a van at night lit by a flash: 0.9 % of its pixels are even faintly coloured
    assert not colourless(imread(PLATES / "easypr" / "images" / "皖AJH155.jpg"))


@pytest.mark.parametrize("text", ["豫C88516", "鲁A1234挂"])
def test_a_two_row_plate_is_read_in_a_colourless_frame_with_no_colour(
    reader: PlateReader, text: str
) -> None:
    # at night an infrared camera shows the yellow plate grey, and a bright grey plate looks
    # white, which no two-row plate is: in a frame without colour, colour rejects nothing
    plate = cv2.resize(render_plate(text, "yellow", two_row=True), (160, 80), cv2.INTER_AREA)
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[200:280, 250:410] = plate
    assert [(r.text, r.color) for r in reader.read(gray(frame))] == [(text, None)]
    # a colour frame keeps its colours
    assert [(r.text, r.color) for r in reader.read(frame)] == [(text, "yellow")]


@pytest.mark.parametrize(("color", "asked"), [("blue", []), ("yellow", [1])])
def test_a_two_row_candidate_of_a_colour_no_two_row_plate_has_is_not_read(
    reader: PlateReader, monkeypatch: pytest.MonkeyPatch, color: str, asked: list[int]
) -> None:
    # a blue block of two rows (a sign, a blue plate cut by the frame's edge) could give no
    # two-row plate: the recognisers are spared its crop, the widest they get
    plate = cv2.resize(render_plate("豫C88516", color, two_row=True), (160, 80), cv2.INTER_AREA)
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[200:280, 250:410] = plate
    block = Candidate(
        np.array([[250, 200], [410, 200], [410, 280], [250, 280]], np.float32), 0.9, True
    )
    calls = pp_ocr_reads(reader, monkeypatch)
    reads = reader.read_candidates(frame, [block])
    assert calls == asked
    assert [r.text for r in reads] == (["豫C88516"] if color == "yellow" else [])


def test_a_grey_two_row_plate_crop_is_read_with_no_colour(reader: PlateReader) -> None:
    # a still of one truck plate from an infrared camera, read whole
    plate = cv2.resize(render_plate("鲁A1234挂", "yellow", two_row=True), (160, 80), cv2.INTER_AREA)
    reads = reader.read(gray(plate))
    assert [(r.text, r.color) for r in reads] == [("鲁A1234挂", None)]
    got = reader.read_crop(gray(plate), two_row=True)
    assert got is not None and (got.text, got.color) == ("鲁A1234挂", None)


def fogged(image: np.ndarray) -> np.ndarray:
    """The frame in even fog: 70 % of a light grey over it."""
    return np.clip(image.astype(np.float32) * 0.3 + 140, 0, 255).astype(np.uint8)


def test_a_plate_in_fog_is_read_from_the_frame_levelled(reader: PlateReader) -> None:
    # in fog the detector scores the plate's faint line too low to be a candidate at all
    row = next(r for r in scene_labels() if r["plate"] == "皖A999J3")
    scene = imread(SCENES / "images" / row["file"])
    small = cv2.resize(scene, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    reads = reader.read(fogged(small))
    assert [(r.text, r.color) for r in reads] == [("皖A999J3", "blue")]


def hazy(image: np.ndarray) -> np.ndarray:
    """Haze thickening with distance (up the picture): 75 % of a light grey at the top, 35 %
    at the bottom, as benchmarks/plates_weather.py makes it."""
    share = np.linspace(0.75, 0.35, image.shape[0], dtype=np.float32)[:, None, None]
    return np.clip(image * (1 - share) + 200 * share, 0, 255).astype(np.uint8)


@pytest.mark.skipif(not (PLATES / "easypr").is_dir(), reason="EasyPR scenes not in ../shared")
def test_a_plate_in_haze_is_found_once_the_veil_is_taken_off(reader: PlateReader) -> None:
    # the near road keeps its contrast, so the frame is not flat enough to be levelled, and the
    # detector misses the veiled plate
    scene = hazy(imread(PLATES / "easypr" / "images" / "川A572F4.jpg"))
    assert [r.text for r in reader.read(scene)] == ["川A572F4"]
    veiled = PlateReader(PlatesConfig.model_validate({"detector": {"dehaze": False}}))
    assert veiled.read(scene) == []


def test_only_a_hazy_picture_is_dehazed() -> None:
    scene = imread(sorted((SCENES / "images").glob("*.jpg"))[0])
    assert dehazed(scene) is scene  # a clear photo is detected as it is
    veiled = hazy(scene)
    grey = cv2.cvtColor(dehazed(veiled), cv2.COLOR_BGR2GRAY).astype(np.float32)
    before = cv2.cvtColor(veiled, cv2.COLOR_BGR2GRAY).astype(np.float32)
    assert grey.std() > 1.5 * before.std()
    wall = np.full((360, 640, 3), 200, np.uint8)  # all veil and no detail: nothing to amplify
    assert np.abs(dehazed(wall).astype(int) - 200).max() <= 1


def test_only_a_flat_frame_is_levelled_and_a_blank_one_not_into_noise() -> None:
    scene = imread(sorted((SCENES / "images").glob("*.jpg"))[0])
    assert levelled(scene) is scene  # a well-exposed frame is read as it is
    lo, hi = levels(fogged(scene))
    assert hi - lo < FLAT_RANGE
    lo2, hi2 = levels(levelled(fogged(scene)))
    assert hi2 - lo2 > 3 * (hi - lo)
    # a lens cap or a wall at night: its sensor noise is not stretched to the full scale
    blank = np.clip(np.random.default_rng(0).normal(40, 2, (360, 640, 3)), 0, 255)
    lo, hi = levels(blank.astype(np.uint8))
    lo2, hi2 = levels(levelled(blank.astype(np.uint8)))
    assert hi2 - lo2 <= MAX_GAIN * (hi - lo) + 1


def test_grey_levels_read_off_the_histogram_are_numpys_percentiles() -> None:
    rng = np.random.default_rng(2)
    for size in (1, 2, 7, 14400):
        for grey in (
            rng.integers(0, 256, size).astype(np.uint8),
            np.clip(rng.normal(60, 4, size), 0, 255).astype(np.uint8),  # a narrow dark band
        ):
            want = np.percentile(grey, (0.0, 1.0, 37.5, 99.0, 100.0))
            got = grey_percentiles(grey, (0.0, 1.0, 37.5, 99.0, 100.0))
            assert np.allclose(got, want, rtol=0, atol=1e-9), (size, got, want)


def test_a_small_bright_plate_in_a_dark_frame_is_not_levelled_white() -> None:
    # an infrared-lit plate at night, characters and all far brighter than the road: too
    # small to count among the frame's levels, and stretched by them it would be all white
    frame = np.clip(np.random.default_rng(1).normal(25, 3, (720, 1280, 3)), 0, 255)
    plate = cv2.resize(render_plate("皖A12345", "white"), (112, 36)).astype(np.float32)
    frame[400:436, 600:712] = 120 + plate / 2
    before = frame[400:436, 600:712].std()
    after = levelled(frame.astype(np.uint8))[400:436, 600:712].astype(np.float32).std()
    assert after >= 0.9 * before  # its characters keep their contrast
