"""`edge replay` with a camera video: each vehicle record carries the plate shown when that
vehicle reached the camera, violations carry their images, and a site without `plates:` or a
scenario without video is replayed as before."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import cv2
import pytest
import yaml

from edge.cli.main import main
from edge.records.jws import decode_compact
from edge.sim import SimOptions, generate
from tests.test_plate_lookup import HEIGHT, WIDTH, covered_plate, jpeg_image, plate_image, scene

FPS = 10
TRIGGER_M = 12.0  # lane1_front of the reference site
# plates the recogniser trained on: this test checks timing and evidence, not its accuracy
PLATES = ["皖AX6996", None, "皖A77Z41"]  # None: the second vehicle's plate is covered


def _truth(folder: Path) -> list[dict[str, Any]]:
    lines = (folder / "truth.jsonl").read_text().splitlines()
    return sorted(
        (t for t in map(json.loads, lines) if t["kind"] == "vehicle"), key=lambda t: t["t_ns"]
    )


def _write_video(path: Path, truth: list[dict[str, Any]]) -> None:
    """10 fps video in which each vehicle's plate passes through the picture as it reaches the
    trigger line (t_ns + 12 m / speed)."""
    events = []
    for t, text in zip(truth, PLATES, strict=True):
        img = plate_image(text) if text else covered_plate()
        events.append((t["t_ns"] / 1e9 + TRIGGER_M / t["speed_mps"], img))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    assert writer.isOpened()
    end_s = truth[-1]["t_ns"] / 1e9 + 5.0
    for i in range(round(end_s * FPS)):
        now = i / FPS
        writer.write(scene([(img, now - trig) for trig, img in events if abs(now - trig) < 1.0]))
    writer.release()


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("scn")
    options = SimOptions(
        vehicles=3, lanes=1, seed=5, overload_fraction=1.0, speed_kmh=(40, 60), mean_headway_s=4
    )
    generate(folder, options)
    truth = _truth(folder)
    assert [t["overloaded"] for t in truth][:2] == [True, True]  # seed 5: two violations
    _write_video(folder / "lane1_front.mp4", truth)
    manifest = yaml.safe_load((folder / "scenario.yaml").read_text())
    manifest["cameras"] = {"lane1_front": {"file": "lane1_front.mp4", "start_ns": 0}}
    (folder / "scenario.yaml").write_text(yaml.safe_dump(manifest))
    site = (folder / "site.yaml").read_text()
    (folder / "site-no-plates.yaml").write_text(site)
    (folder / "site.yaml").write_text(site + "\nplates:\n  region: cn\n")
    return folder


@pytest.fixture(scope="module")
def replayed(scenario: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out")
    assert main(["replay", str(scenario), "--out", str(out)]) == 0
    return out


def _records(out: Path) -> list[dict[str, Any]]:
    lines = (out / "records.jws").read_text(encoding="ascii").splitlines()
    return [json.loads(decode_compact(line).payload) for line in lines]


def _by_type(out: Path, kind: str) -> list[dict[str, Any]]:
    return sorted((r for r in _records(out) if r["type"] == kind), key=lambda r: r["time"])


def test_each_vehicle_carries_the_plate_seen_when_it_passed(replayed: Path) -> None:
    vehicles = _by_type(replayed, "vehicle")
    assert len(vehicles) == 3
    texts = [v["plate"]["text"] if v["plate"] else None for v in vehicles]
    assert texts == PLATES  # covered plate: null, never a guess
    assert all(0.6 <= v["plate"]["confidence"] <= 1 for v in vehicles if v["plate"])
    summary = json.loads((replayed / "summary.json").read_text())
    assert summary["counts"]["plate_reads"] == 2
    assert summary["plates"]["read"] == 2 and summary["plates"]["unread"] == 1
    assert summary["cameras"]["lane1_front"]["decode_errors"] == 0
    # The models that read the plates are named in every record.
    assert all(v["software"]["models"] for v in vehicles)


def test_violations_list_evidence_files_with_their_digests(replayed: Path) -> None:
    violations = _by_type(replayed, "violation")
    assert len(violations) >= 2
    first, covered = violations[0], violations[1]
    assert first["plate"]["text"] == PLATES[0] and covered["plate"] is None
    assert [e["name"] for e in first["evidence"]] == [
        "lane1_front-frame.jpg",
        "lane1_front-plate.jpg",
    ]
    assert [e["name"] for e in covered["evidence"]] == ["lane1_front-frame.jpg"]  # no crop
    for record in (first, covered):
        for entry in record["evidence"]:
            path = replayed / "evidence" / record["id"] / entry["name"]
            data = path.read_bytes()
            assert hashlib.sha256(data).hexdigest() == entry["sha256"]
            assert len(data) == entry["bytes"] and entry["media_type"] == "image/jpeg"
        frame = jpeg_image(path.with_name("lane1_front-frame.jpg").read_bytes())
        assert frame.shape == (HEIGHT, WIDTH, 3)
    assert main(["verify", str(replayed)]) == 0  # signatures, chain and evidence digests


def test_site_without_plates_is_replayed_as_before(scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    cfg = scenario / "site-no-plates.yaml"
    assert main(["replay", str(scenario), "--out", str(out), "--config", str(cfg)]) == 0
    records = _records(out)
    assert len([r for r in records if r["type"] == "vehicle"]) == 3
    assert all(r["plate"] is None for r in records)
    assert all(r["evidence"] == [] for r in records if r["type"] == "violation")
    assert all(r["software"]["models"] == {} for r in records)
    assert list((out / "evidence").iterdir()) == []
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["plate_reads"] == 0
    assert "plates" not in summary and "cameras" not in summary
