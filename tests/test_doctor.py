"""`edge doctor` tells a technician what works and what does not, one line each."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml

from edge.cli.main import main
from edge.records.keys import SigningKey
from edge.vision.plates import recognise
from edge.wim.protocols.lcs1 import Lcs1Frame
from tests.conftest import REFERENCE_SITE


def _site(tmp_path: Path, port: str, with_key: bool) -> Path:
    data = yaml.safe_load(REFERENCE_SITE.read_text())
    data["serial"]["wim0"]["url"] = port
    data["cameras"]["lane1_front"]["url"] = str(tmp_path / "missing.mp4")
    data["records"] = {"data_dir": str(tmp_path / "state"), "key_file": str(tmp_path / "k.pem")}
    if with_key:
        SigningKey.generate().save(tmp_path / "k.pem")
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def _stream_frames(master: int, stop: threading.Event) -> None:
    seq = 0
    samples = np.zeros((20, 8), dtype=np.int32)
    while not stop.is_set():
        frame = Lcs1Frame(seq=seq, t_us=seq * 10_000, rate=2000, samples=samples)
        try:
            os.write(master, frame.to_bytes())
        except OSError:
            return
        seq += 1
        stop.wait(0.01)


def test_doctor_reports_each_part(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    master, slave = os.openpty()
    stop = threading.Event()
    feeder = threading.Thread(target=_stream_frames, args=(master, stop))
    feeder.start()
    try:
        site = _site(tmp_path, os.ttyname(slave), with_key=True)
        rc = main(["doctor", "--config", str(site), "--listen", "0.5", "--timeout", "1"])
    finally:
        stop.set()
        feeder.join()
        os.close(master)
        os.close(slave)
    out = capsys.readouterr().out
    assert "OK   serial wim0: LCS1 8 channels at 2000 Hz" in out
    assert "FAIL camera lane1_front" in out
    assert "OK   signing key" in out
    assert "WARN broker: no mqtt section" in out
    assert rc == 1  # the camera is missing


def test_doctor_names_missing_port_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = _site(tmp_path, str(tmp_path / "ttyUSB-gone"), with_key=False)
    assert main(["doctor", "--config", str(site), "--listen", "0.1", "--timeout", "1"]) == 1
    out = capsys.readouterr().out
    assert "FAIL serial wim0" in out
    assert "ttyUSB-gone" in out
    assert "edge keygen" in out


def test_doctor_loads_the_plate_models_and_names_a_missing_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    site = _site(tmp_path, str(tmp_path / "ttyUSB-gone"), with_key=True)
    data = yaml.safe_load(site.read_text())

    def doctor(region: str) -> str:
        data["plates"] = {"region": region}
        site.write_text(yaml.safe_dump(data, allow_unicode=True))
        main(["doctor", "--config", str(site), "--listen", "0.1", "--timeout", "1"])
        return capsys.readouterr().out

    out = doctor("cn")
    assert "OK   plate models: region cn: ch_PP-OCRv4_det_mobile.folded.onnx sha256" in out
    assert "plate_rec_cn.onnx sha256" in out
    assert "loaded and warm in" in out
    # region us reads with PP-OCRv4 and then the wheel's newer recogniser: both named, no warning
    out = doctor("us")
    assert "OK   plate models: region us: ch_PP-OCRv4_det_mobile.folded.onnx sha256" in out
    assert "PP-OCRv6_rec_small.onnx sha256" in out
    # without the PP-OCRv4 mobile models it runs on the wheel's slower ones, and says so
    installed = recognise.PPOCR_MOBILE
    monkeypatch.setattr(recognise, "PPOCR_MOBILE", tmp_path / "none")
    out = doctor("cn")
    assert "WARN plate models: region cn: PP-OCRv6_det_small.onnx" in out
    assert "run scripts/install-models.sh" in out
    # with the PP-OCRv4 files as the wheel has them but not rewritten (fold.py), it says so
    plain = tmp_path / "plain"
    plain.mkdir()
    for kind in ("det", "rec"):
        name = f"ch_PP-OCRv4_{kind}_mobile.onnx"
        (plain / name).symlink_to(installed / name)
    monkeypatch.setattr(recognise, "PPOCR_MOBILE", plain)
    out = doctor("cn")
    assert "WARN plate models: region cn: ch_PP-OCRv4_det_mobile.onnx sha256" in out
    assert "not rewritten" in out
    data["plates"] = {"region": "cn", "recogniser": {"path": str(tmp_path / "gone.onnx")}}
    site.write_text(yaml.safe_dump(data, allow_unicode=True))
    assert main(["doctor", "--config", str(site), "--listen", "0.1", "--timeout", "1"]) == 1
    assert (
        f"FAIL plate models: {tmp_path / 'gone.onnx'}: model file not found"
        in capsys.readouterr().out
    )
