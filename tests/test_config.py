"""Site configuration: the shipped examples validate, mistakes are named by file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.cli.main import main
from edge.config import load_site
from edge.errors import ConfigError
from tests.conftest import CONFIG_DIR, REFERENCE_SITE

EXAMPLES = sorted(CONFIG_DIR.glob("*.yaml"))


def test_there_are_examples_for_each_law() -> None:
    profiles = {load_site(p).rules.profile for p in EXAMPLES}
    assert profiles == {"cn", "us", "eu"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_config_validates(path: Path) -> None:
    cfg = load_site(path)
    assert cfg.wim.lanes


def test_reference_site_is_the_spec_site() -> None:
    """serial.md section 5, field by field."""
    cfg = load_site(REFERENCE_SITE)
    assert list(cfg.serial) == ["wim0"]
    assert cfg.serial["wim0"].protocol == "lcs1"
    assert [lane.lane for lane in cfg.wim.lanes] == [1, 2]
    assert cfg.wim.lanes[0].channels is not None
    assert cfg.wim.lanes[0].channels.as_tuple() == (0, 1, 2, 3)
    assert cfg.wim.lanes[1].channels is not None
    assert cfg.wim.lanes[1].channels.as_tuple() == (4, 5, 6, 7)
    assert cfg.wim.row_spacing_m == 3.0
    assert cfg.wim.platform_length_m == 0.75
    cal = cfg.calibration.channels["wim0"]
    assert [c.zero for c in cal] == [1520, -830, 2210, 410, -1290, 760, 1880, -440]
    assert {c.kg_per_count for c in cal} == {0.02}
    assert cfg.rules.profile == "cn"
    assert cfg.cameras["lane1_front"].lane == 1
    assert cfg.cameras["lane1_front"].trigger_distance_m == 12.0


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _with(tmp_path: Path, old: str, new: str) -> Path:
    text = REFERENCE_SITE.read_text(encoding="utf-8")
    assert old in text
    return _write(tmp_path, text.replace(old, new, 1))


def test_unknown_key_names_file_line_and_field(tmp_path: Path) -> None:
    path = _with(tmp_path, "    baud: 921600\n", "    baud: 921600\n    buad: 9600\n")
    with pytest.raises(ConfigError) as err:
        load_site(path)
    line = path.read_text().splitlines().index("    buad: 9600") + 1
    assert f"{path}:{line}: serial.wim0.buad: Extra inputs are not permitted" in str(err.value)


def test_out_of_bounds_value_names_field_and_value(tmp_path: Path) -> None:
    path = _with(tmp_path, "platform_length_m: 0.75", "platform_length_m: 7.5")
    with pytest.raises(ConfigError) as err:
        load_site(path)
    msg = str(err.value)
    assert "wim.platform_length_m" in msg
    assert "7.5" in msg
    assert f"{path}:" in msg


def test_cross_field_error_points_at_the_offending_line(tmp_path: Path) -> None:
    path = _with(
        tmp_path,
        "source: wim0\n      channels: {a_left: 4",
        "source: wim9\n      channels: {a_left: 4",
    )
    with pytest.raises(ConfigError) as err:
        load_site(path)
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "wim9" in t)
    assert f"{path}:{line}: wim.lanes.1.source: 'wim9' is not a serial source" in str(err.value)


def test_channel_beyond_calibration_is_rejected(tmp_path: Path) -> None:
    path = _with(
        tmp_path,
        "{a_left: 4, a_right: 5, b_left: 6, b_right: 7}",
        "{a_left: 4, a_right: 5, b_left: 6, b_right: 9}",
    )
    with pytest.raises(ConfigError, match=r"has 8 channels; lane 2 uses channel\(s\) \[9\]"):
        load_site(path)


def test_every_error_is_listed_not_just_the_first(tmp_path: Path) -> None:
    path = _with(tmp_path, "    baud: 921600\n", "    baud: 12\n    parity: E\n")
    with pytest.raises(ConfigError) as err:
        load_site(path)
    lines = str(err.value).splitlines()
    assert any("serial.wim0.baud" in x for x in lines)
    assert any("serial.wim0.parity" in x for x in lines)


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "version: 1\nsite:\n  id: [unclosed\n")
    with pytest.raises(ConfigError, match=rf"{path}:\d+: invalid YAML"):
        load_site(path)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: file not found"):
        load_site(tmp_path / "nope.yaml")


def test_check_config_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(REFERENCE_SITE)]) == 0
    assert "OK" in capsys.readouterr().out
    bad = _with(tmp_path, "profile: cn", "profile: xx")
    assert main(["check-config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "rules.profile" in err
    assert "Traceback" not in err


def _with_zone(tmp_path: Path, zone: str) -> Path:
    """The reference site with lane1_front's plate_zone line set to `zone`."""
    return _with(
        tmp_path, "    lane: 1\n    trigger", f"    lane: 1\n    plate_zone: {zone}\n    trigger"
    )


def test_a_plate_zone_outside_the_frame_names_its_camera(tmp_path: Path) -> None:
    path = _with_zone(tmp_path, "[0.6, 0, 0.4, 1]")
    with pytest.raises(ConfigError) as err:
        load_site(path)
    line = path.read_text().splitlines().index("    plate_zone: [0.6, 0, 0.4, 1]") + 1
    assert f"{path}:{line}: cameras.lane1_front.plate_zone: " in str(err.value)
    assert "0 <= x1 < x2 <= 1" in str(err.value)
    left = _with_zone(tmp_path, "[0, 0.2, 0.5, 1]")
    assert load_site(left).cameras["lane1_front"].plate_zone == (0.0, 0.2, 0.5, 1.0)
