"""`edge replay` end to end: a simulated site recording in, signed records and a summary out."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from edge.cli.main import main
from edge.sim import SimOptions, generate
from tests.conftest import REPO

FIXTURE = REPO / "tests" / "fixtures" / "reference-short"


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("scn")
    generate(out, SimOptions(vehicles=12, seed=11, overload_fraction=0.4))
    return out


@pytest.fixture(scope="module")
def replayed(scenario: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out")
    assert main(["replay", str(scenario), "--out", str(out)]) == 0
    return out


def _truth(scenario: Path) -> list[dict[str, Any]]:
    lines = (scenario / "truth.jsonl").read_text().splitlines()
    return [t for t in map(json.loads, lines) if t["kind"] == "vehicle"]


def _records(out: Path) -> list[dict[str, Any]]:
    recs = []
    for line in (out / "records.jws").read_text().splitlines():
        payload = line.split(".")[1]
        recs.append(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))
    return recs


def test_replay_writes_the_bench_output_folder(replayed: Path) -> None:
    for name in ("records.jws", "summary.json", "keys.jwks"):
        assert (replayed / name).is_file(), name
    assert (replayed / "evidence").is_dir()
    assert json.loads((replayed / "keys.jwks").read_text())["keys"][0]["crv"] == "Ed25519"


def test_every_vehicle_is_weighed_once_and_violations_match_truth(
    scenario: Path, replayed: Path
) -> None:
    truth = _truth(scenario)
    recs = _records(replayed)
    vehicles = [r for r in recs if r["type"] == "vehicle"]
    violations = [r for r in recs if r["type"] == "violation"]
    assert len(vehicles) == len(truth)
    by_lane_time = sorted((t["lane"], t["t_ns"]) for t in truth)
    assert sorted(r["lane"] for r in vehicles) == sorted(lane for lane, _ in by_lane_time)
    # Axle counts are never wrong and gross weights are close (accuracy is a benchmark's job).
    truth_sorted = sorted(truth, key=lambda t: (t["lane"], t["t_ns"]))
    rec_sorted = sorted(vehicles, key=lambda r: (r["lane"], r["time"]))
    for t, r in zip(truth_sorted, rec_sorted, strict=True):
        assert len(r["axles"]) == len(t["axles"])
        gross = sum(a["load_kg"] for a in t["axles"])
        assert abs(r["gross_kg"] - gross) / gross < 0.10
    assert {v["gross_kg"] for v in violations} <= {v["gross_kg"] for v in vehicles}
    assert any(t["overloaded"] for t in truth), "the scenario must contain overloads"
    assert len(violations) >= 1


def test_records_are_a_valid_chain_in_seq_order(replayed: Path) -> None:
    recs = _records(replayed)
    assert [r["seq"] for r in recs] == list(range(1, len(recs) + 1))
    assert recs[0]["prev"] is None
    assert main(["verify", str(replayed)]) == 0


def test_summary_counts_what_was_written(replayed: Path) -> None:
    summary = json.loads((replayed / "summary.json").read_text())
    recs = _records(replayed)
    assert summary["counts"]["vehicles"] == sum(r["type"] == "vehicle" for r in recs)
    assert summary["counts"]["violations"] == sum(r["type"] == "violation" for r in recs)
    assert summary["timings"]["realtime_factor"] > 1
    assert "wim0" in summary["sources"]


def test_violation_carries_the_rule_and_vehicle_fields(replayed: Path) -> None:
    violation = next(r for r in _records(replayed) if r["type"] == "violation")
    for field in ("lane", "speed_kmh", "axles", "gross_kg", "class", "plate", "quality", "rule"):
        assert field in violation, field
    assert violation["evidence"] == []
    assert violation["rule"]["profile"].startswith("cn")


def test_readable_report_lists_vehicles_and_overloads(
    scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(scenario), "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "OVERLOAD" in out
    assert "vehicles weighed" in out


def test_missing_scenario_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "nope" in err


def test_missing_capture_is_named(
    scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(scenario, broken)
    (broken / "wim0.scap").unlink()
    assert main(["replay", str(broken), "--out", str(tmp_path / "o")]) == 2
    assert "wim0.scap" in capsys.readouterr().err


def test_corrupt_capture_names_the_offset(
    scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(scenario, broken)
    data = bytearray((broken / "wim0.scap").read_bytes())
    data[0:5] = b"XCAP9"
    (broken / "wim0.scap").write_bytes(bytes(data))
    assert main(["replay", str(broken), "--out", str(tmp_path / "o")]) == 2
    assert "offset 0" in capsys.readouterr().err


def test_bundled_scenario_replays(tmp_path: Path) -> None:
    """The README's main job."""
    assert main(["replay", str(FIXTURE), "--out", str(tmp_path / "o")]) == 0
    assert main(["verify", str(tmp_path / "o")]) == 0
