"""Calibration from known runs: `edge.wim.calibration` and `edge calibrate` on simulated runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from drivers.scap import ScapReader
from edge.cli.main import main
from edge.config.site import Calibration, SiteConfig, load_site
from edge.errors import ConfigError
from edge.sim import SimOptions, generate
from edge.wim.calibration import calibrate, load_known
from edge.wim.protocols.lcs1_stream import Lcs1StreamParser
from edge.wim.weigher import Lcs1Weigher

HEAVY = 1.05  # the site in force reads 5 % heavy


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated calibration session (24 vehicles) and a site file that reads 5 % heavy."""
    folder = tmp_path_factory.mktemp("calib") / "scenario"
    generate(folder, SimOptions(vehicles=24, seed=11, line_noise=0.0, speed_kmh=(30.0, 90.0)))
    text = (folder / "site.yaml").read_text(encoding="utf-8")
    heavy = re.sub(r"kg_per_count: 0\.02\b", f"kg_per_count: {0.02 * HEAVY:.4f}", text)
    assert heavy != text
    (folder.parent / "heavy-site.yaml").write_text(heavy, encoding="utf-8")
    return folder


def gross_errors(site: SiteConfig, folder: Path) -> list[float]:
    """Relative gross errors of the vehicles weighed in the scenario, matched to truth by time."""
    truths = [json.loads(x) for x in (folder / "truth.jsonl").read_text().splitlines() if x]
    w = Lcs1Weigher(site, "wim0")
    parser = Lcs1StreamParser()
    out = []
    with ScapReader(folder / "wim0.scap") as reader:
        for chunk in reader:
            for frame in parser.feed(chunk.data):
                out.extend(w.feed(frame, chunk.t_ns))
    out.extend(w.flush())
    errs = []
    for t in truths:
        v = min(out, key=lambda v: abs(v.t_ns - t["t_ns"]) + 1e12 * (v.lane != t["lane"]))
        errs.append(v.gross_kg / sum(a["load_kg"] for a in t["axles"]) - 1)
    return errs


def test_calibration_removes_a_scale_error(runs: Path) -> None:
    heavy_site = load_site(runs.parent / "heavy-site.yaml")
    before = gross_errors(heavy_site, runs)
    assert np.mean(before) == pytest.approx(HEAVY - 1, abs=0.015)
    result = calibrate(heavy_site, runs, load_known(runs / "truth.jsonl"), new_id="test-cal")
    assert result.matched == result.runs == 24
    for f in result.row_factors.values():
        assert f == pytest.approx(1 / HEAVY, abs=0.03)
    fixed_site = heavy_site.model_copy(update={"calibration": result.calibration})
    after = gross_errors(fixed_site, runs)
    assert abs(np.mean(after)) < 0.01
    assert result.calibration.id == "test-cal"
    assert abs(result.gross_error_pct_after[0]) < 1.0 < result.gross_error_pct_before[0]


def test_cli_writes_a_section_that_pastes_into_the_site(
    runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # runs.yaml as a technician writes it: the first 10 vehicles of the session.
    truths = [json.loads(x) for x in (runs / "truth.jsonl").read_text().splitlines() if x]
    known = {
        "runs": [
            {
                "lane": t["lane"],
                "t_s": t["t_ns"] / 1e9,
                "axles_kg": [a["load_kg"] for a in t["axles"]],
            }
            for t in truths[:10]
        ]
    }
    (tmp_path / "runs.yaml").write_text(yaml.safe_dump(known), encoding="utf-8")
    out = tmp_path / "calib.yaml"
    rc = main(
        [
            "calibrate",
            str(runs),
            "--known",
            str(tmp_path / "runs.yaml"),
            "--config",
            str(runs.parent / "heavy-site.yaml"),
            "--out",
            str(out),
            "--json",
        ]
    )
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["matched"] == 10
    section = yaml.safe_load(out.read_text(encoding="utf-8"))["calibration"]
    cal = Calibration.model_validate(section)
    assert len(cal.channels["wim0"]) == 8
    site = yaml.safe_load((runs.parent / "heavy-site.yaml").read_text(encoding="utf-8"))
    site["calibration"] = section
    SiteConfig.model_validate(site)  # pastes into a valid site file


def test_cli_says_which_runs_are_missing(
    runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "runs.yaml").write_text(
        "runs:\n  - {lane: 1, t_s: 9999, axles_kg: [7000, 11000]}\n", encoding="utf-8"
    )
    rc = main(
        [
            "calibrate",
            str(runs),
            "--known",
            str(tmp_path / "runs.yaml"),
            "--out",
            str(tmp_path / "c.yaml"),
        ]
    )
    assert rc == 2
    err = capsys.readouterr().err
    assert "none of the 1 known runs was found" in err and len(err.strip().splitlines()) == 1


def test_bad_runs_file_names_the_line(tmp_path: Path) -> None:
    (tmp_path / "runs.yaml").write_text("runs:\n  - {lane: 1, t_s: 3}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"runs\.yaml:2"):
        load_known(tmp_path / "runs.yaml")
